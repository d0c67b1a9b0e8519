#pragma once
// What a worker runs. A Model turns one job's validated input into an output; the worker owns storage,
// timing and the protocol (models never see the wire format: scripts/check-layers.sh). Models report refusals
// and failures as ModelError with an ErrorCode.

#include <cstdint>
#include <exception>
#include <filesystem>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "common/error.hpp"
#include "models/job_context.hpp"

namespace gpufleet::models {

// What a model serves: its name, kind and the inputs it takes. The worker announces it to the broker (as
// protocol::ModelInfo); the gateway's catalog is built from those announcements.
struct ModelInfo {
  std::string name;
  std::string kind;                    // "tts", "video", "noop"
  std::vector<std::string> languages;  // empty: any
  bool cloning = false;                // accepts a speaker reference
  uint32_t sample_rate = 0;
  // Jobs a worker runs together (dynamic batching); the broker lets a worker hold slots x max_batch of them.
  uint32_t max_batch = 1;
  // The input fields of the model's own (XTTS's "temperature", a drill's "sleep_ms"), beyond those the fleet
  // defines for every model of its kind; the gateway refuses any other field (docs/security.md).
  std::vector<std::string> parameters;
  // A video model's modes ("talking_head", "lip_sync"): /health's models.video and models.lipsync say
  // whether any served model offers each.
  std::vector<std::string> modes;
};

// Mono 16-bit PCM.
struct Audio {
  std::vector<int16_t> samples;
  uint32_t sample_rate = 0;
  double duration_s() const {
    return sample_rate == 0 ? 0.0 : static_cast<double>(samples.size()) / sample_rate;
  }
};

struct ModelInput {
  std::string job_id;
  nlohmann::json input;  // the client's "input" object, as validated by the gateway
  // The speaker reference as clients name it (relative to the input folder; several, one per line), while
  // input.speaker_wav is the file's path on this worker (a list of them for several); empty without one.
  // Voice caches report references by this name.
  std::string reference;
  // Where a model that writes its own output file (video) puts it: on the results' filesystem, so that the
  // runner moves it into place with a rename. Empty: the model must not write files.
  std::filesystem::path scratch_dir;
  // Set when the client asked for streamed audio ("stream": true) and the model is a TTS model: where a model
  // that can stream appends its audio as it makes it (models/audio_stream.hpp). Models that cannot ignore it;
  // the gateway then streams their finished result.
  std::filesystem::path stream_path;
};

// A file a model wrote into ModelInput::scratch_dir; the runner moves it to
// <results>/<folder>/<job>-<attempt>.<extension>.
struct OutputFile {
  std::filesystem::path path;
  std::string content_type;  // "video/mp4"
  std::string folder;        // "video"
  std::string extension;     // "mp4"
  double duration_s = 0;
};

struct ModelOutput {
  std::optional<Audio> audio;                         // absent for models that produce no audio (noop, video)
  nlohmann::json details = nlohmann::json::object();  // added to the job's result (e.g. voice_cache)
  std::optional<OutputFile> file;                     // video models: the file they wrote
};

// One job of a batch, and what became of it: an output, or the exception that ended it.
struct BatchItem {
  const ModelInput* input = nullptr;
  JobContext* context = nullptr;
};
struct BatchOutcome {
  std::optional<ModelOutput> output;
  std::exception_ptr error;
};

// The worker's side of a batch that keeps running (Model::run_continuous): a model that works step by step
// takes in jobs of its model that arrived after the batch began, and hands back each job's outcome as soon as
// it has one, so that a short job is reported without waiting for the longest of its batch. Used only from
// the thread that runs the batch.
class BatchFeed {
 public:
  virtual ~BatchFeed() = default;
  // Jobs of this model waiting now, as many as the batch has room for (its max_batch less the jobs it runs
  // that are not finished yet); none when there is no room or nothing waits. They are the model's to finish.
  virtual std::vector<BatchItem> join() = 0;
  // A job's outcome. Every item, given or joined, is finished exactly once; its input and context stay valid
  // until then.
  virtual void finish(const BatchItem& item, BatchOutcome outcome) = 0;
};

class Model {
 public:
  virtual ~Model() = default;
  virtual const ModelInfo& info() const = 0;
  // Called from one of the worker's executor threads; a model that is not thread-safe serialises inside.
  // Between chunks of work it calls context.check(), which throws when the job must stop and otherwise
  // renews its lease.
  virtual ModelOutput run(const ModelInput& input, JobContext& context) = 0;
  // Whether run_batch does better than one job after another; the registry allows max_batch > 1 only then.
  virtual bool batches() const { return false; }
  // Runs jobs of this model together and answers one outcome per item, in order; one job's failure is its
  // own. The default runs them one after another.
  virtual std::vector<BatchOutcome> run_batch(const std::vector<BatchItem>& items);
  // Runs a batch that may grow while it runs and finishes each job through `feed` (see BatchFeed). The
  // default joins nothing: run_batch(items), then every outcome. Jobs left unfinished when it returns fail as
  // a model error; what it throws fails them all.
  virtual void run_continuous(const std::vector<BatchItem>& items, BatchFeed& feed);
  // The references (ModelInput::reference) whose voices this model holds in memory now, so that the broker
  // sends later jobs with them here. Called from the worker's event loop while jobs run: must not wait for
  // one. At most `limit` (what the worker can announce). Models without a voice cache have none.
  virtual std::vector<std::string> references_in_memory(size_t limit) const { return {}; }
  // Runs one small job before the model is announced (a registry entry's `warmup`), so the first client does
  // not pay for lazy initialisation. The default speaks a short sentence for a TTS model (in English where it
  // speaks English) and does nothing for a video model (it has no portrait to animate). A model that needs
  // more than text (a cloned voice) overrides it. Throws what the model throws.
  virtual void warm_up();
};

// The fields a TTS job carries.
struct TtsRequest {
  std::string text;
  std::string language;
  std::string speaker_wav;                // empty: no cloning reference; the first where several come
  std::vector<std::string> speaker_wavs;  // every reference of the voice (speaker_wav first)
};

// Parses and checks a TTS input against a model's capabilities. Throws ModelError.
TtsRequest parse_tts_request(const nlohmann::json& input, const ModelInfo& info);

}  // namespace gpufleet::models
