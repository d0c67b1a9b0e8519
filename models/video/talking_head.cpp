#include "models/video/talking_head.hpp"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <functional>
#include <opencv2/imgcodecs.hpp>
#include <opencv2/imgproc.hpp>
#include <random>
#include <set>

#include "common/error.hpp"
#include "common/files.hpp"
#include "common/image_probe.hpp"
#include "common/wav.hpp"
#include "models/torch/runtime.hpp"
#include "models/video/animator.hpp"
#include "models/video/face_renderer.hpp"
#include "models/video/face_track.hpp"
#include "models/video/motion.hpp"
#include "models/video/mp4_writer.hpp"
#include "models/video/portrait.hpp"
#include "models/video/video_reader.hpp"

namespace gpufleet::video {

namespace fs = std::filesystem;

namespace {

constexpr size_t kMaxImageBytes = 64u << 20;
constexpr size_t kMaxAudioBytes = 512u << 20;

struct PortraitOptions {
  int size = 0;
  int fps = 25;
  uint64_t max_pixels = 16777216;
  double max_audio_s = 600;
  double max_video_s = 600;  // a video to lip-sync
  int crf = 23;
  std::filesystem::path cascade_dir = kDebianHaarCascadeDir;  // the face detector's (OPENCV_HAAR_DIR)
  double crop_scale = 1.8;  // neural renderers: the face box's side in face widths
};

int64_t integer_option(const nlohmann::json& value, const std::string& where, int64_t low, int64_t high) {
  if (!value.is_number_integer() || value.get<int64_t>() < low || value.get<int64_t>() > high) {
    throw ConfigError(where + " must be an integer from " + std::to_string(low) + " to " +
                      std::to_string(high));
  }
  return value.get<int64_t>();
}

bool valid_size(int64_t size) {
  return size == 0 || (size >= 128 && size <= 2048);
}

// The speech as mono 16-bit samples. Throws ModelError(kInvalidInput) for anything that is not usable audio.
std::pair<std::vector<int16_t>, uint32_t> read_speech(const std::string& path, double max_seconds) {
  const auto bytes = read_file(path, kMaxAudioBytes);
  if (!bytes) throw ModelError(ErrorCode::kInvalidInput, "audio_path cannot be read or is over 512 MiB");
  const auto info = parse_wav(*bytes);
  if (!info) throw ModelError(ErrorCode::kInvalidInput, "audio_path is not a WAV file");
  if (info->frames == 0) throw ModelError(ErrorCode::kInvalidInput, "audio_path has no samples");
  if (info->sample_rate < 8000 || info->sample_rate > 192000) {
    throw ModelError(ErrorCode::kInvalidInput, "audio_path's sample rate must be 8-192 kHz");
  }
  if (info->duration_s() > max_seconds) {
    throw ModelError(ErrorCode::kInvalidInput, "audio_path lasts " + std::to_string(info->duration_s()) +
                                                   " s; this model renders at most " +
                                                   std::to_string(max_seconds) + " s");
  }
  if (!wav_decodable(*info)) {
    throw ModelError(ErrorCode::kInvalidInput,
                     "audio_path must be PCM WAV of 8, 16, 24 or 32 bits or float WAV of 32 or 64 bits");
  }
  auto mono = wav_mono_pcm16(*bytes, *info);
  return {std::move(mono), info->sample_rate};
}

// The portrait, decoded only after its header says it is a PNG or JPEG of an acceptable size.
cv::Mat read_portrait(const std::string& path, uint64_t max_pixels) {
  const auto bytes = read_file(path, kMaxImageBytes);
  if (!bytes) throw ModelError(ErrorCode::kInvalidInput, "reference_image cannot be read or is over 64 MiB");
  const auto header = probe_image(*bytes);
  if (!header) throw ModelError(ErrorCode::kInvalidInput, "reference_image is not a PNG or JPEG image");
  if (static_cast<uint64_t>(header->width) * header->height > max_pixels) {
    throw ModelError(ErrorCode::kInvalidInput, "reference_image is " + std::to_string(header->width) + "x" +
                                                   std::to_string(header->height) + "; the limit is " +
                                                   std::to_string(max_pixels) + " pixels");
  }
  if (header->width < 64 || header->height < 64) {
    throw ModelError(ErrorCode::kInvalidInput, "reference_image is smaller than 64x64");
  }
  const cv::Mat encoded(1, static_cast<int>(bytes->size()), CV_8U, const_cast<char*>(bytes->data()));
  cv::Mat image = cv::imdecode(encoded, cv::IMREAD_COLOR);
  if (image.empty()) throw ModelError(ErrorCode::kInvalidInput, "reference_image cannot be decoded");
  return image;
}

// Removes the model's output file unless the job succeeded.
class ScratchFile {
 public:
  explicit ScratchFile(fs::path path) : path_(std::move(path)) {}
  ~ScratchFile() {
    if (!kept_) {
      std::error_code ignored;
      fs::remove(path_, ignored);
    }
  }
  ScratchFile(const ScratchFile&) = delete;
  ScratchFile& operator=(const ScratchFile&) = delete;
  const fs::path& path() const { return path_; }
  fs::path keep() {
    kept_ = true;
    return path_;
  }

 private:
  fs::path path_;
  bool kept_ = false;
};

// A new MP4 of the job's in its scratch folder, removed unless kept.
ScratchFile scratch_mp4(const models::ModelInput& input) {
  std::error_code error;
  fs::create_directories(input.scratch_dir, error);
  return ScratchFile(input.scratch_dir /
                     (input.job_id + "-" + std::to_string(std::random_device()()) + ".mp4"));
}

// input.phonemes ([{"phoneme","start_ms","end_ms"}], what espeak's "timings" answer), checked; nullopt if
// absent.
std::optional<std::vector<PhonemeSpan>> read_phonemes(const nlohmann::json& input) {
  constexpr size_t kMaxPhonemes = 200'000;
  auto list = input.find("phonemes");
  if (list == input.end() || list->is_null()) return std::nullopt;
  if (!list->is_array() || list->size() > kMaxPhonemes) {
    throw ModelError(ErrorCode::kInvalidInput,
                     "phonemes must be an array of at most 200000 {phoneme,start_ms,end_ms}");
  }
  std::vector<PhonemeSpan> spans;
  spans.reserve(list->size());
  for (const auto& entry : *list) {
    const auto name = entry.is_object() ? entry.find("phoneme") : entry.end();
    const auto start = entry.is_object() ? entry.find("start_ms") : entry.end();
    const auto end = entry.is_object() ? entry.find("end_ms") : entry.end();
    const bool ok = name != entry.end() && name->is_string() &&
                    name->get_ref<const std::string&>().size() <= 16 && start != entry.end() &&
                    start->is_number() && end != entry.end() && end->is_number() &&
                    start->get<double>() >= 0 && end->get<double>() >= start->get<double>() &&
                    end->get<double>() <= 86'400'000.0;
    if (!ok)
      throw ModelError(ErrorCode::kInvalidInput,
                       "phonemes: each entry needs phoneme, 0 <= start_ms <= end_ms");
    spans.push_back({name->get<std::string>(), start->get<double>() / 1000.0, end->get<double>() / 1000.0});
  }
  return spans;
}

class PortraitModel final : public models::Model {
 public:
  // `renderer`: a neural face renderer drawing the face (null: the embedded animator draws the whole head).
  PortraitModel(PortraitOptions options, std::unique_ptr<FaceRenderer> renderer = nullptr)
      : options_(std::move(options)), renderer_(std::move(renderer)), finder_(options_.cascade_dir) {
    info_.name = renderer_ ? renderer_->family() : "portrait";
    info_.kind = "video";
    info_.parameters = {"seed"};
    // Every renderer moves the mouth; lip_sync keeps the head still (a wav2lip renderer never moves it). The
    // embedded animator also lip-syncs a video's frames; a neural renderer animates one source picture.
    info_.modes = {"talking_head", "lip_sync"};
    if (!renderer_ || renderer_->renders_frame_sources()) info_.modes.push_back("lip_sync_video");
  }

  const models::ModelInfo& info() const override { return info_; }

  models::ModelOutput run(const models::ModelInput& input, models::JobContext& context) override {
    const auto& json = input.input;
    auto text_field = [&json](const char* name) {
      auto value = json.find(name);
      if (value == json.end() || !value->is_string() || value->get_ref<const std::string&>().empty()) {
        throw ModelError(ErrorCode::kMissingField, std::string(name) + " is required");
      }
      return value->get<std::string>();
    };
    const std::string mode = json.value("mode", std::string("talking_head"));
    if (mode != "talking_head" && mode != "lip_sync") {
      throw ModelError(ErrorCode::kInvalidInput, "mode must be talking_head or lip_sync");
    }
    int size = options_.size;
    if (auto value = json.find("size"); value != json.end()) {
      if (!value->is_number_integer() || !valid_size(value->get<int64_t>())) {
        throw ModelError(ErrorCode::kInvalidInput, "size must be 0 (the portrait's own) or 128-2048");
      }
      size = value->get<int>();
    }
    if (input.scratch_dir.empty()) throw ModelError(ErrorCode::kInternal, "no scratch folder for the video");
    const auto phonemes = read_phonemes(json);
    if (json.contains("video")) {
      if (renderer_ && !renderer_->renders_frame_sources()) {
        throw ModelError(ErrorCode::kInvalidInput, "model " + info_.name +
                                                       " animates one portrait; lip-sync a video with the "
                                                       "portrait or wav2lip model");
      }
      return run_video(input, text_field("video"), text_field("audio_path"), phonemes, context);
    }

    // Named, not a structured binding: clang 14 (scripts/check-tidy.sh) cannot capture those in lambdas.
    const auto sound = read_speech(text_field("audio_path"), options_.max_audio_s);
    const std::vector<int16_t>& speech = sound.first;
    const uint32_t sample_rate = sound.second;
    const cv::Mat image = read_portrait(text_field("reference_image"), options_.max_pixels);
    context.check();
    const auto found = finder_.find(image);
    if (!found) throw ModelError(ErrorCode::kNoFace, "no face found in reference_image");
    const cv::Mat portrait = frame_portrait(image, found->face, size);
    // At the portrait's own size, unscaled (at most its last row and column trimmed), the first detection
    // holds for the framed picture; a crop or a scaled picture is searched again.
    const bool same_pixels = size == 0 && portrait.cols >= image.cols - 1 && portrait.rows >= image.rows - 1;
    auto layout = same_pixels ? found : finder_.find(portrait);
    if (!layout)
      throw ModelError(ErrorCode::kInvalidInput, "the face in reference_image is too small to animate");
    context.check();

    // The mouth follows the phonemes where the speech stage reported them, else the audio's loudness.
    const auto mouth =
        phonemes ? mouth_from_phonemes(*phonemes, frame_count(speech.size(), sample_rate, options_.fps),
                                       options_.fps)
                 : mouth_from_audio(speech, sample_rate, options_.fps);
    MotionStyle style;
    style.blinks = style.head_motion = mode == "talking_head" && (!renderer_ || renderer_->animates_head());
    style.seed = json.contains("seed") && json["seed"].is_number_unsigned()
                     ? json["seed"].get<uint64_t>()
                     : std::hash<std::string>()(input.job_id);
    const auto plan = plan_motion(mouth, options_.fps, style);

    ScratchFile file = scratch_mp4(input);
    Mp4Settings settings;
    settings.width = portrait.cols;
    settings.height = portrait.rows;
    settings.fps = options_.fps;
    settings.audio_sample_rate = sample_rate;
    settings.crf = options_.crf;
    Mp4Writer writer(file.path(), settings);
    // The sound of frame f, written after it so the muxer interleaves as it goes.
    auto write_sound = [&](size_t f) {
      const auto fps = static_cast<size_t>(options_.fps);
      const size_t begin = std::min(speech.size(), f * sample_rate / fps);
      const size_t end =
          f + 1 == plan.size() ? speech.size() : std::min(speech.size(), (f + 1) * sample_rate / fps);
      writer.write_audio(std::span<const int16_t>(speech.data() + begin, end - begin));
    };
    cv::Mat frame;
    cv::Rect face_box;
    if (renderer_) {
      face_box = render_neural(portrait, *layout, speech, sample_rate, plan, context,
                               [&](const cv::Mat& rendered, size_t f) {
                                 writer.write_frame(rendered);
                                 write_sound(f);
                               });
    } else {
      PortraitAnimator animator(portrait, *layout);
      for (size_t f = 0; f < plan.size(); ++f) {
        context.check();
        context.report(f, plan.size());
        animator.render(plan[f], frame);
        writer.write_frame(frame);
        write_sound(f);
      }
    }
    writer.finish();

    models::ModelOutput output;
    const double duration = static_cast<double>(plan.size()) / options_.fps;
    output.details = {{"frames", plan.size()},
                      {"fps", options_.fps},
                      {"width", portrait.cols},
                      {"height", portrait.rows},
                      {"mode", mode},
                      {"mouth", phonemes ? "phonemes" : "audio"},
                      {"audio_duration_s", static_cast<double>(speech.size()) / sample_rate},
                      {"face", {layout->face.x, layout->face.y, layout->face.width, layout->face.height}}};
    if (renderer_) {
      output.details["renderer"] = {{"family", renderer_->family()},
                                    {"device", renderer_->device()},
                                    {"crop_size", renderer_->crop_size()},
                                    {"box", {face_box.x, face_box.y, face_box.width, face_box.height}}};
    }
    output.file = models::OutputFile{file.keep(), "video/mp4", "video", "mp4", duration};
    return output;
  }

 private:
  // Lip sync of a video: its frames and their times kept, its sound replaced by the speech (cut at the
  // video's end when longer, silence after it when shorter), the mouth moved to the speech on every frame
  // where a face is tracked; frames without one pass through. Two passes over the file: the first finds the
  // face in every frame (so that tracking sees both sides of a miss), the second draws and encodes.
  models::ModelOutput run_video(const models::ModelInput& input, const std::string& video_path,
                                const std::string& audio_path,
                                const std::optional<std::vector<PhonemeSpan>>& phonemes,
                                models::JobContext& context) {
    const auto sound = read_speech(audio_path, options_.max_audio_s);  // named: see run()
    const std::vector<int16_t>& speech = sound.first;
    const uint32_t sample_rate = sound.second;
    const VideoReaderLimits limits{options_.max_pixels, options_.max_video_s};
    std::vector<std::optional<FaceLayout>> detected;
    std::vector<int64_t> times;
    VideoStreamInfo info;
    size_t step = 1;
    {
      VideoReader reader(video_path, limits);
      info = reader.info();
      // About 12 searches a second: the face moves little between them, and tracking fills the rest.
      step = std::max<size_t>(1, static_cast<size_t>(std::lround(info.fps / 12.5)));
      while (auto frame = reader.next()) {
        if (times.size() % 8 == 0) context.check();
        detected.push_back(times.size() % step == 0 ? finder_.find(frame->bgr) : std::nullopt);
        times.push_back(frame->pts);
      }
    }
    if (times.empty()) throw ModelError(ErrorCode::kUnreadableMedia, "the video has no frames");
    TrackOptions tracking;
    tracking.max_gap = static_cast<size_t>(std::lround(0.4 * info.fps));
    tracking.hold = step;
    tracking.smooth_radius = 2 * step;
    const auto track = track_faces(detected, tracking);
    const size_t with_face = static_cast<size_t>(
        std::count_if(track.begin(), track.end(), [](const auto& layout) { return layout.has_value(); }));
    if (with_face == 0) throw ModelError(ErrorCode::kNoFace, "no face found in any frame of the video");

    // Frame f shows from its time to the next frame's; the last for the typical frame length.
    const double tick = static_cast<double>(info.time_base_num) / info.time_base_den;
    const int64_t last_length =
        times.size() > 1
            ? std::max<int64_t>(1, (times.back() - times.front()) / static_cast<int64_t>(times.size() - 1))
            : std::max<int64_t>(1, std::llround(1.0 / (info.fps * tick)));
    auto frame_end = [&](size_t f) {
      return f + 1 < times.size() ? times[f + 1] : times.back() + last_length;
    };
    const double video_s = static_cast<double>(frame_end(times.size() - 1)) * tick;
    // The mouth at the nominal rate over the speech, read at each frame's time (closed after the speech).
    const size_t nominal_frames = frame_count(speech.size(), sample_rate, info.fps);
    const auto nominal = phonemes ? mouth_from_phonemes(*phonemes, nominal_frames, info.fps)
                                  : mouth_from_audio(speech, sample_rate, info.fps);
    std::vector<float> mouth(times.size(), 0.0f);
    for (size_t f = 0; f < times.size(); ++f) {
      const auto at = static_cast<size_t>(static_cast<double>(times[f]) * tick * info.fps);
      if (at < nominal.size()) mouth[f] = nominal[at];
    }
    MotionStyle style;
    style.blinks = style.head_motion = false;
    const auto plan = plan_motion(mouth, info.fps, style);
    context.check();

    ScratchFile file = scratch_mp4(input);
    Mp4Settings settings;
    settings.width = info.width;
    settings.height = info.height;
    settings.fps = std::clamp(static_cast<int>(std::lround(info.fps)), 1, 240);
    settings.time_base_num = info.time_base_num;
    settings.time_base_den = info.time_base_den;
    settings.audio_sample_rate = sample_rate;
    settings.crf = options_.crf;
    Mp4Writer writer(file.path(), settings);
    const std::vector<int16_t> silence(sample_rate / 10, 0);
    // The speech under frame f: its samples from the frame's time to the next's, silence past its end.
    auto write_sound = [&](size_t f) {
      auto sample_at = [&](int64_t ticks) {
        return static_cast<size_t>(std::llround(static_cast<double>(ticks) * tick * sample_rate));
      };
      size_t begin = sample_at(f == 0 ? 0 : times[f]);
      const size_t end = sample_at(frame_end(f));
      while (begin < end) {
        if (begin < speech.size()) {
          const size_t until = std::min(end, speech.size());
          writer.write_audio(std::span<const int16_t>(speech.data() + begin, until - begin));
          begin = until;
        } else {
          const size_t count = std::min(end - begin, silence.size());
          writer.write_audio(std::span<const int16_t>(silence.data(), count));
          begin += count;
        }
      }
    };
    VideoReader reader(video_path, limits);
    size_t f = 0;
    if (renderer_) {
      // The renderer hears the speech fitted to the video, so the mouth shuts after a shorter speech.
      std::vector<int16_t> fitted(static_cast<size_t>(std::llround(video_s * sample_rate)), 0);
      std::copy_n(speech.begin(), std::min(speech.size(), fitted.size()), fitted.begin());
      f = lip_sync_neural(reader, times, track, plan, fitted, sample_rate, info.fps, context,
                          [&](const cv::Mat& frame, size_t index) {
                            writer.write_frame(frame, times[index]);
                            write_sound(index);
                          });
    }
    std::optional<PortraitAnimator> animator;
    FaceLayout animated;
    cv::Mat drawn;
    while (!renderer_ && f < times.size()) {
      auto frame = reader.next();
      if (!frame) break;
      if (f % 8 == 0) {
        context.check();
        context.report(f, times.size());
      }
      if (track[f]) {
        // The animator's patterns follow the face; rebuilt when it has moved more than a small fraction.
        if (!animator || layout_distance(animated, *track[f]) > 0.02f) {
          animated = *track[f];
          animator.emplace(frame->bgr, animated);
        }
        animator->render(frame->bgr, plan[f], drawn);
        writer.write_frame(drawn, times[f]);
      } else {
        writer.write_frame(frame->bgr, times[f]);
      }
      write_sound(f);
      ++f;
    }
    writer.finish();

    models::ModelOutput output;
    const double speech_s = static_cast<double>(speech.size()) / sample_rate;
    output.details = {{"frames", f},
                      {"fps", info.fps},
                      {"width", info.width},
                      {"height", info.height},
                      {"mode", "lip_sync"},
                      {"source", "video"},
                      {"codec", info.codec},
                      {"mouth", phonemes ? "phonemes" : "audio"},
                      {"frames_with_face", with_face},
                      {"audio_duration_s", speech_s},
                      {"video_duration_s", video_s},
                      // What happened to the speech to fit the video's length.
                      {"speech_fit", speech_s > video_s + 1e-3   ? "cut"
                                     : speech_s < video_s - 1e-3 ? "padded"
                                                                 : "exact"}};
    if (renderer_) {
      output.details["renderer"] = {{"family", renderer_->family()},
                                    {"device", renderer_->device()},
                                    {"crop_size", renderer_->crop_size()}};
    }
    output.file = models::OutputFile{file.keep(), "video/mp4", "video", "mp4", video_s};
    return output;
  }

  // The face box the renderer draws: a square around the face, crop_scale times its width, inside the
  // picture.
  cv::Rect face_box(const cv::Mat& portrait, const cv::Rect& face) const {
    const int side = std::min(
        {static_cast<int>(std::lround(face.width * options_.crop_scale)), portrait.cols, portrait.rows});
    const int cx = face.x + face.width / 2, cy = face.y + face.height / 2;
    const int x = std::clamp(cx - side / 2, 0, portrait.cols - side);
    const int y = std::clamp(cy - side / 2, 0, portrait.rows - side);
    return {x, y, side, side};
  }

  // Lip sync of a video's frames by a renderer that takes a source per frame (Wav2Lip): each frame's face box
  // is cropped as that frame's reference, consecutive frames rendered in batches (a faceless frame's slot is
  // rendered and thrown away, so that a batch stays consecutive for the speech windows), the faces pasted
  // back with a feathered edge; calls `emit(frame, index)` in order. Returns the frames read.
  template <typename Emit>
  size_t lip_sync_neural(VideoReader& reader, const std::vector<int64_t>& times,
                         const std::vector<std::optional<FaceLayout>>& track,
                         const std::vector<FrameMotion>& plan, const std::vector<int16_t>& speech,
                         uint32_t sample_rate, double fps, models::JobContext& context, Emit emit) {
    const int size = renderer_->crop_size();
    const size_t crop_bytes = static_cast<size_t>(size) * size * 3;
    const size_t batch = std::max<size_t>(1, renderer_->frame_batch());
    std::vector<uint8_t> sources(batch * crop_bytes, 0), faces(batch * crop_bytes);
    std::vector<cv::Mat> frames;
    std::vector<cv::Rect> boxes;
    std::unique_ptr<FaceRenderSession> session;
    size_t first = 0;
    auto flush = [&] {
      if (frames.empty()) return;
      const bool any =
          std::any_of(boxes.begin(), boxes.end(), [](const cv::Rect& box) { return !box.empty(); });
      if (any) {
        if (!session) {
          const size_t with = static_cast<size_t>(
              std::find_if(boxes.begin(), boxes.end(), [](const cv::Rect& box) { return !box.empty(); }) -
              boxes.begin());
          session =
              renderer_->begin(FaceRenderJob{sources.data() + with * crop_bytes, speech, sample_rate, fps});
        }
        session->render_sources(first, std::span<const FrameMotion>(plan.data() + first, frames.size()),
                                sources.data(), faces.data());
      }
      cv::Mat scaled;
      for (size_t i = 0; i < frames.size(); ++i) {
        if (!boxes[i].empty()) {
          const cv::Mat face(size, size, CV_8UC3, faces.data() + i * crop_bytes);
          cv::resize(face, scaled, boxes[i].size(), 0, 0, cv::INTER_LINEAR);
          paste_feathered(scaled, boxes[i], frames[i]);
        }
        emit(frames[i], first + i);
      }
      first += frames.size();
      frames.clear();
      boxes.clear();
    };
    size_t f = 0;
    while (f < times.size()) {
      auto frame = reader.next();
      if (!frame) break;
      if (f % 8 == 0) {
        context.check();
        context.report(f, times.size());
      }
      const size_t slot = frames.size();
      frames.push_back(frame->bgr.clone());
      cv::Rect box;
      if (track[f]) {
        box = face_box(frames.back(), track[f]->face);
        cv::Mat crop(size, size, CV_8UC3, sources.data() + slot * crop_bytes);
        cv::resize(frames.back()(box), crop, cv::Size(size, size), 0, 0, cv::INTER_AREA);
      }
      boxes.push_back(box);
      ++f;
      if (frames.size() == batch) flush();
    }
    flush();
    return f;
  }

  // Blends `face` (the box's size) into `frame` at `box`: 1 inside, falling to 0 over the outer eighth.
  static void paste_feathered(const cv::Mat& face, const cv::Rect& box, cv::Mat& frame) {
    const cv::Mat weight = feather(box.size());
    cv::Mat blended;
    cv::blendLinear(face, frame(box), weight, 1.0 - weight, blended);
    blended.copyTo(frame(box));
  }

  static cv::Mat feather(const cv::Size& size) {
    cv::Mat weight(size, CV_32F, cv::Scalar(0));
    const int margin = std::max(1, size.width / 8);
    cv::rectangle(weight, cv::Rect(margin, margin, size.width - 2 * margin, size.height - 2 * margin),
                  cv::Scalar(1), cv::FILLED);
    cv::blur(weight, weight, cv::Size(2 * margin + 1, 2 * margin + 1));
    return weight;
  }

  // Renders the frames with the neural renderer in batches and pastes each face back into the portrait with a
  // feathered edge, so the seam does not show; calls `emit(frame, index)` in order. Returns the face box.
  template <typename Emit>
  cv::Rect render_neural(const cv::Mat& portrait, const FaceLayout& layout,
                         const std::vector<int16_t>& speech, uint32_t sample_rate,
                         const std::vector<FrameMotion>& plan, models::JobContext& context, Emit emit) {
    const cv::Rect box = face_box(portrait, layout.face);
    const int size = renderer_->crop_size();
    cv::Mat crop;
    cv::resize(portrait(box), crop, cv::Size(size, size), 0, 0, cv::INTER_AREA);
    crop = crop.clone();
    auto session =
        renderer_->begin(FaceRenderJob{crop.data, speech, sample_rate, static_cast<double>(options_.fps)});
    // Weight of the rendered face: 1 inside, falling to 0 over the outer eighth of the box.
    const cv::Mat weight = feather(box.size());
    const cv::Mat inverse = 1.0 - weight;
    const size_t batch = std::max<size_t>(1, renderer_->frame_batch());
    std::vector<uint8_t> faces(batch * static_cast<size_t>(size) * size * 3);
    cv::Mat frame = portrait.clone(), scaled, blended;
    for (size_t first = 0; first < plan.size(); first += batch) {
      context.check();
      context.report(first, plan.size());
      const size_t count = std::min(batch, plan.size() - first);
      session->render(first, std::span<const FrameMotion>(plan.data() + first, count), faces.data());
      for (size_t i = 0; i < count; ++i) {
        const cv::Mat face(size, size, CV_8UC3, faces.data() + i * static_cast<size_t>(size) * size * 3);
        cv::resize(face, scaled, box.size(), 0, 0, cv::INTER_LINEAR);
        cv::blendLinear(scaled, portrait(box), weight, inverse, blended);
        blended.copyTo(frame(box));
        emit(frame, first + i);
      }
    }
    return box;
  }

  PortraitOptions options_;
  std::unique_ptr<FaceRenderer> renderer_;
  models::ModelInfo info_;
  FaceFinder finder_;
};

}  // namespace

namespace {

// The options every talking-head backend takes; `others` are the renderer's own, checked by it.
PortraitOptions parse_options(const models::ModelSpec& spec, const std::set<std::string>& others) {
  PortraitOptions options;
  const std::string where = "model " + spec.name + ": options.";
  for (const auto& [key, value] : spec.options.items()) {
    if (others.count(key) != 0) continue;
    if (key == "size") {
      options.size = static_cast<int>(integer_option(value, where + key, 0, 2048));
      if (!valid_size(options.size)) throw ConfigError(where + "size must be 0 or 128-2048");
    } else if (key == "fps") {
      options.fps = static_cast<int>(integer_option(value, where + key, 10, 60));
    } else if (key == "max_pixels") {
      options.max_pixels = static_cast<uint64_t>(integer_option(value, where + key, 4096, 100000000));
    } else if (key == "max_audio_s") {
      options.max_audio_s = static_cast<double>(integer_option(value, where + key, 1, 7200));
    } else if (key == "max_video_s") {
      options.max_video_s = static_cast<double>(integer_option(value, where + key, 1, 7200));
    } else if (key == "crf") {
      options.crf = static_cast<int>(integer_option(value, where + key, 0, 51));
    } else if (key == "crop_scale" && !others.empty()) {
      if (!value.is_number() || value.get<double>() < 1.0 || value.get<double>() > 4.0) {
        throw ConfigError(where + key + " must be a number from 1 to 4");
      }
      options.crop_scale = value.get<double>();
    } else {
      throw ConfigError(where + key + ": " + spec.backend +
                        " takes size, fps, max_pixels, max_audio_s, max_video_s, crf" +
                        (others.empty() ? "" : ", crop_scale and its renderer's options"));
    }
  }
  return options;
}

}  // namespace

std::unique_ptr<models::Model> load_portrait_model(const models::ModelSpec& spec,
                                                   const std::filesystem::path& cascade_dir) {
  auto options = parse_options(spec, {});
  options.cascade_dir = cascade_dir;
  return std::make_unique<PortraitModel>(options);
}

std::unique_ptr<models::Model> load_neural_head_model(const models::ModelSpec& spec,
                                                      std::unique_ptr<FaceRenderer> renderer,
                                                      const std::filesystem::path& cascade_dir) {
  if (!renderer) throw ConfigError("model " + spec.name + ": no renderer for backend " + spec.backend);
  static const std::set<std::string> kRendererOptions{"crop_size",        "frame_batch",    "lip_open_ratio",
                                                      "source_lip_ratio", "eye_open_ratio", "head_degrees"};
  auto options = parse_options(spec, kRendererOptions);
  options.cascade_dir = cascade_dir;
  return std::make_unique<PortraitModel>(options, std::move(renderer));
}

void add_video_backends(models::BackendRegistry& backends) {
  auto cascades = [](const models::ModelServices& services) {
    return services.haar_cascade_dir.empty() ? std::filesystem::path(kDebianHaarCascadeDir)
                                             : services.haar_cascade_dir;
  };
  backends.bind("portrait", [cascades](const models::ModelSpec& spec, const models::ModelServices& services) {
    return load_portrait_model(spec, cascades(services));
  });
  auto neural = [cascades](const models::ModelSpec& spec, const models::ModelServices& services) {
    return load_neural_head_model(spec, services.torch->load_face_renderer(spec, services.device_for(spec)),
                                  cascades(services));
  };
  backends.bind("liveportrait", neural);
  backends.bind("wav2lip", neural);
}

}  // namespace gpufleet::video
