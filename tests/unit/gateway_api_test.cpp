// Guards the HTTP API's validation: every bad input maps to its own code and status, and valid input is
// normalised the same way for /v1/jobs and the original /tts/generate.
#include <gtest/gtest.h>

#include "common/api_keys.hpp"
#include "common/sha256.hpp"
#include "common/wav.hpp"
#include "gateway/api.hpp"
#include "gateway/openapi.hpp"
#include "tests/support/wav_variants.hpp"

namespace gpufleet::gateway {
namespace {

Catalog test_catalog() {
  Catalog catalog;
  catalog.add(CatalogModel{"espeak", "tts", {"en", "de"}, false, 22050, 1, 1, {"cpu"}, 1, {"speed"}});
  catalog.add(CatalogModel{"clone", "tts", {}, true, 24000, 1, 1, {"cuda"}, 1, {"temperature", "speaker"}});
  catalog.add(CatalogModel{
      "portrait", "video", {}, false, 0, 1, 1, {"cpu"}, 1, {"seed"}, {"talking_head", "lip_sync"}});
  return catalog;
}

Limits test_limits() {
  Limits limits;
  limits.max_text_chars = 20;
  limits.input_root = "/srv/inputs";
  limits.reference_exists = [](const std::filesystem::path& relative) {
    return relative == "ref.wav" || relative == "uploads/known.wav" || relative == "uploads/other.wav" ||
           relative == "uploads/face.png";
  };
  return limits;
}

ApiError expect_error(const SubmitParse& parsed) {
  EXPECT_TRUE(std::holds_alternative<ApiError>(parsed));
  return std::holds_alternative<ApiError>(parsed) ? std::get<ApiError>(parsed) : ApiError{};
}

SubmitParse submit(const std::string& body, const std::string& content_type = "application/json") {
  return parse_job_submission(content_type, body, test_catalog(), test_limits());
}

TEST(GatewayApi, AcceptsAMinimalJobWithDefaults) {
  auto parsed = submit(R"({"input":{"text":"hello"}})");
  ASSERT_TRUE(std::holds_alternative<SubmitRequest>(parsed));
  const auto& request = std::get<SubmitRequest>(parsed);
  EXPECT_EQ(request.kind, "tts");
  EXPECT_EQ(request.model, "espeak");
  EXPECT_EQ(request.priority, 0);
  EXPECT_EQ(request.input["language"], "en");
}

TEST(GatewayApi, ContentTypeWithCharsetIsJson) {
  EXPECT_TRUE(std::holds_alternative<SubmitRequest>(
      submit(R"({"input":{"text":"hi"}})", "Application/JSON; charset=utf-8")));
}

TEST(GatewayApi, EachBadInputHasItsCode) {
  EXPECT_EQ(expect_error(submit("{", "application/json")).code, ErrorCode::kInvalidJson);
  EXPECT_EQ(expect_error(submit("[1]")).code, ErrorCode::kInvalidJson);
  EXPECT_EQ(expect_error(submit(R"({"input":{"text":"hi"}})", "text/plain")).status, 415);
  EXPECT_EQ(expect_error(submit(R"({})")).code, ErrorCode::kMissingField);
  EXPECT_EQ(expect_error(submit(R"({"input":{}})")).code, ErrorCode::kMissingField);
  EXPECT_EQ(expect_error(submit(R"({"input":{"text":"   "}})")).code, ErrorCode::kMissingField);
  EXPECT_EQ(expect_error(submit(R"({"input":{"text":5}})")).code, ErrorCode::kInvalidRequest);
  EXPECT_EQ(expect_error(submit(R"({"input":{"text":"this text is far longer than twenty"}})")).code,
            ErrorCode::kTextTooLong);
  EXPECT_EQ(expect_error(submit(R"({"input":{"text":"hi","language":"fr"}})")).code,
            ErrorCode::kUnsupportedLanguage);
  auto unknown = expect_error(submit(R"({"model":"nope","input":{"text":"hi"}})"));
  EXPECT_EQ(unknown.code, ErrorCode::kUnknownModel);
  EXPECT_EQ(unknown.status, 404);
  EXPECT_EQ(expect_error(submit(R"({"kind":"opera","input":{"text":"hi"}})")).code,
            ErrorCode::kInvalidRequest);
  EXPECT_EQ(expect_error(submit(R"({"priority":"high","input":{"text":"hi"}})")).code,
            ErrorCode::kInvalidRequest);
  EXPECT_EQ(expect_error(submit(R"({"priority":99999,"input":{"text":"hi"}})")).code,
            ErrorCode::kInvalidRequest);
  EXPECT_EQ(expect_error(submit(R"({"kind":"video","input":{}})")).code, ErrorCode::kMissingField);
}

TEST(GatewayApi, TextLimitCountsCharactersNotBytes) {
  // 20 two-byte characters: 40 bytes, within a 20-character limit.
  EXPECT_TRUE(std::holds_alternative<SubmitRequest>(submit(R"({"input":{"text":"ééééééééééééééééééé"}})")));
}

TEST(GatewayApi, SpeakerReferenceNeedsACloningModel) {
  auto refused = expect_error(submit(R"({"input":{"text":"hi","speaker_wav":"ref.wav"}})"));
  EXPECT_EQ(refused.code, ErrorCode::kCannotClone);
  EXPECT_EQ(refused.status, 422);
  auto accepted =
      submit(R"({"model":"clone","input":{"text":"hi","speaker_wav":"ref.wav","temperature":0.7}})");
  ASSERT_TRUE(std::holds_alternative<SubmitRequest>(accepted));
  EXPECT_EQ(std::get<SubmitRequest>(accepted).input["speaker_wav"], "ref.wav");
  EXPECT_EQ(std::get<SubmitRequest>(accepted).input["temperature"], 0.7);  // model parameters pass through
  // Null optional fields mean their defaults and reach no model (a worker read "timings": null as a bool).
  auto nulls =
      submit(R"({"input":{"text":"hi","stream":null,"timings":null,"speaker_wav":null,"language":null}})");
  ASSERT_TRUE(std::holds_alternative<SubmitRequest>(nulls));
  const auto& nulls_input = std::get<SubmitRequest>(nulls).input;
  EXPECT_FALSE(nulls_input.contains("stream"));
  EXPECT_FALSE(nulls_input.contains("timings"));
  EXPECT_FALSE(nulls_input.contains("speaker_wav"));
  EXPECT_EQ(nulls_input["language"], "en");
  // An empty reference means none, as the original service treated it.
  EXPECT_TRUE(std::holds_alternative<SubmitRequest>(submit(R"({"input":{"text":"hi","speaker_wav":""}})")));
}

// Guards against inputs that nothing reads being stored for the job's lifetime: a field that is neither the
// fleet's nor one the model declares is refused, as is a model parameter that is a document, not a value.
TEST(GatewayApi, InputFieldsAreTheFleetsOrTheModelsOwn) {
  auto unknown = expect_error(submit(R"({"input":{"text":"hi","padding":"xxxxxxxx"}})"));
  EXPECT_EQ(unknown.code, ErrorCode::kInvalidInput);
  EXPECT_EQ(unknown.status, 422);
  EXPECT_NE(unknown.message.find("\"padding\""), std::string::npos) << unknown.message;
  EXPECT_NE(unknown.message.find("speed"), std::string::npos) << unknown.message;  // what it does take
  // A parameter of another model is unknown to this one.
  EXPECT_EQ(expect_error(submit(R"({"input":{"text":"hi","temperature":0.7}})")).code,
            ErrorCode::kInvalidInput);
  // A declared parameter must be a value: no objects, arrays or long strings.
  for (const std::string& value :
       {std::string(R"({"a":1})"), std::string("[1,2]"), "\"" + std::string(1025, 'x') + "\""}) {
    auto refused = expect_error(submit(R"({"model":"clone","input":{"text":"hi","speaker":)" + value + "}}"));
    EXPECT_EQ(refused.code, ErrorCode::kInvalidInput) << value.substr(0, 20);
  }
  EXPECT_TRUE(std::holds_alternative<SubmitRequest>(
      submit(R"({"model":"clone","input":{"text":"hi","speaker":"Ana"}})")));
  // A field name that is not printable is not echoed back.
  auto odd = expect_error(submit("{\"input\":{\"text\":\"hi\",\"a\\u0000b\":1}}"));
  EXPECT_EQ(odd.message.find('\0'), std::string::npos);
  // Video inputs likewise, the text-to-video speech fields included.
  auto video = expect_error(submit(
      R"({"kind":"video","input":{"reference_image":"uploads/face.png","audio_path":"uploads/a.wav","fps":60}})"));
  EXPECT_EQ(video.code, ErrorCode::kInvalidInput);
  auto speech = expect_error(submit(
      R"({"kind":"video","input":{"text":"Hallo","reference_image":"uploads/face.png","tts":{"pitch":2}}})"));
  EXPECT_EQ(speech.code, ErrorCode::kInvalidInput);
}

// Guards the reference rules: a cloning model gets only names of files that exist under the input folder,
// normalised; server paths elsewhere and ".." are refused before anything is queued.
TEST(GatewayApi, SpeakerReferencesMustBeFilesInTheInputFolder) {
  auto reference = [](const std::string& value) {
    return submit(R"({"model":"clone","input":{"text":"hi","speaker_wav":")" + value + R"("}})");
  };
  auto accepted = reference("/srv/inputs/uploads/known.wav");
  ASSERT_TRUE(std::holds_alternative<SubmitRequest>(accepted));
  EXPECT_EQ(std::get<SubmitRequest>(accepted).input["speaker_wav"], "uploads/known.wav");
  for (const std::string bad :
       {"../ref.wav", "/etc/passwd", "uploads/../../ref.wav", "uploads/missing.wav"}) {
    auto refused = expect_error(reference(bad));
    EXPECT_EQ(refused.code, ErrorCode::kInvalidInput) << bad;
    EXPECT_EQ(refused.status, 422) << bad;
    EXPECT_EQ(refused.message.find("/srv/inputs"), std::string::npos)
        << "the server's folder leaked: " << refused.message;
  }
  // Several references of one voice: each checked as one, the list kept in order; 1 to 8 of them.
  auto listed = [](const std::string& list) {
    return submit(R"({"model":"clone","input":{"text":"hi","speaker_wav":)" + list + "}}");
  };
  auto several = listed(R"(["uploads/known.wav", "/srv/inputs/uploads/other.wav"])");
  ASSERT_TRUE(std::holds_alternative<SubmitRequest>(several));
  EXPECT_EQ(std::get<SubmitRequest>(several).input["speaker_wav"],
            nlohmann::json::array({"uploads/known.wav", "uploads/other.wav"}));
  EXPECT_EQ(expect_error(listed(R"(["uploads/known.wav", "../ref.wav"])")).code, ErrorCode::kInvalidInput);
  EXPECT_EQ(expect_error(listed(R"(["uploads/known.wav", "uploads/missing.wav"])")).code,
            ErrorCode::kInvalidInput);
  EXPECT_EQ(expect_error(listed("[]")).code, ErrorCode::kInvalidRequest);
  EXPECT_EQ(expect_error(listed(R"(["uploads/known.wav", 7])")).code, ErrorCode::kInvalidRequest);
  EXPECT_EQ(expect_error(listed(R"(["uploads/known.wav", ""])")).code, ErrorCode::kInvalidRequest);
  std::string nine = "[";
  for (int i = 0; i < 9; ++i) nine += std::string(i ? "," : "") + "\"uploads/known.wav\"";
  EXPECT_EQ(expect_error(listed(nine + "]")).code, ErrorCode::kInvalidRequest);
  EXPECT_EQ(expect_error(submit(R"({"input":{"text":"hi","speaker_wav":["uploads/known.wav"]}})")).code,
            ErrorCode::kCannotClone);
}

// Guards uploads: only WAV bodies the fleet decodes, with a WAV content type; the id is the SHA-256 of the
// bytes.
TEST(GatewayApi, UploadsAreWavFilesNamedByTheirContent) {
  const std::vector<int16_t> samples(1600, 1000);
  const std::string wav = encode_wav_pcm16(samples, 16000);
  auto upload = parse_upload("audio/wav", wav);
  ASSERT_TRUE(std::holds_alternative<Upload>(upload));
  const auto& stored = std::get<Upload>(upload);
  EXPECT_EQ(stored.id.size(), 64u);
  EXPECT_EQ(stored.relative, std::filesystem::path("uploads") / (stored.id + ".wav"));
  EXPECT_EQ(upload_json(stored)["duration_s"], 0.1);
  EXPECT_EQ(std::get<Upload>(parse_upload("audio/x-wav; charset=binary", wav)).id, stored.id);
  EXPECT_NE(
      std::get<Upload>(parse_upload("audio/wav", encode_wav_pcm16(std::vector<int16_t>(1600, 999), 16000)))
          .id,
      stored.id);
  auto code_of = [](const std::variant<Upload, ApiError>& parsed) { return std::get<ApiError>(parsed).code; };
  EXPECT_EQ(code_of(parse_upload("text/plain", wav)), ErrorCode::kUnsupportedMediaType);
  EXPECT_EQ(code_of(parse_upload("audio/wav", "RIFF....WAVEjunk")), ErrorCode::kInvalidInput);
  EXPECT_EQ(code_of(parse_upload("audio/wav", encode_wav_pcm16({}, 16000))), ErrorCode::kInvalidInput);
  // Other tools' encodings are references too (24-bit, float, WAVE_FORMAT_EXTENSIBLE); a 12-bit one is not.
  for (const gpufleet::testing::WavVariant variant :
       {gpufleet::testing::WavVariant{1, 24, false}, gpufleet::testing::WavVariant{1, 16, true},
        gpufleet::testing::WavVariant{3, 64, true}}) {
    EXPECT_TRUE(std::holds_alternative<Upload>(
        parse_upload("audio/wav", gpufleet::testing::encode_wav_variant(samples, 16000, 1, variant))));
  }
  auto twelve_bits = gpufleet::testing::encode_wav_variant(samples, 16000, 1, {1, 16, false});
  twelve_bits[34] = 12;
  EXPECT_EQ(code_of(parse_upload("audio/wav", twelve_bits)), ErrorCode::kInvalidInput);
}

// Guards the hash itself against a known vector (FIPS 180-2, "abc").
TEST(GatewayApi, Sha256MatchesTheStandardVector) {
  EXPECT_EQ(sha256_hex("abc"), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  // Fed in pieces (model fingerprints), the digest is the same as in one buffer.
  EXPECT_EQ(Sha256().update("a").update("").update("bc").hex_digest(), sha256_hex("abc"));
}

// Guards the default language: English as the original service had it, except for a model that speaks one
// other language only, which gets its own instead of a refusal.
TEST(GatewayApi, ASingleLanguageModelDefaultsToItsLanguage) {
  Catalog catalog = test_catalog();
  catalog.add(CatalogModel{"thorsten", "tts", {"de"}, false, 22050, 1, 1, {"cpu"}});
  auto parsed = parse_job_submission("application/json", R"({"model":"thorsten","input":{"text":"Hallo"}})",
                                     catalog, test_limits());
  ASSERT_TRUE(std::holds_alternative<SubmitRequest>(parsed));
  EXPECT_EQ(std::get<SubmitRequest>(parsed).input["language"], "de");
  auto english = parse_job_submission("application/json", R"({"model":"espeak","input":{"text":"Hi"}})",
                                      catalog, test_limits());
  EXPECT_EQ(std::get<SubmitRequest>(english).input["language"], "en");
  auto refused = parse_job_submission("application/json",
                                      R"({"model":"thorsten","input":{"text":"Hi","language":"en"}})",
                                      catalog, test_limits());
  EXPECT_EQ(std::get<ApiError>(refused).code, ErrorCode::kUnsupportedLanguage);
}

// Guards language tags: "en-US" or "zh" were refused by a model announcing "en" and "zh-cn", though upstream
// XTTS strips the region ("es-ES" -> "es") and takes "zh" for Chinese. The job carries the announced tag.
TEST(GatewayApi, LanguageTagsFallBackToTheirPrimarySubtagAsUpstream) {
  const std::vector<std::string> xtts{"en", "es", "pt", "zh-cn", "ja"};
  EXPECT_EQ(announced_language("en", xtts), "en");
  EXPECT_EQ(announced_language("en-US", xtts), "en");
  EXPECT_EQ(announced_language("EN_gb", xtts), "en");
  EXPECT_EQ(announced_language("pt-BR", xtts), "pt");
  EXPECT_EQ(announced_language("zh", xtts), "zh-cn");
  EXPECT_EQ(announced_language("zh-CN", xtts), "zh-cn");
  EXPECT_EQ(announced_language("zh-TW", xtts), "zh-cn");
  EXPECT_EQ(announced_language("fr-FR", xtts), std::nullopt);
  EXPECT_EQ(announced_language("", xtts), std::nullopt);
  EXPECT_EQ(announced_language("-en", xtts), std::nullopt);
  EXPECT_EQ(announced_language("eng", xtts), std::nullopt);
  // A model whose list holds the regional tag keeps it.
  EXPECT_EQ(announced_language("en-us", {"en-US", "en"}), "en-US");

  Catalog catalog = test_catalog();
  catalog.add(CatalogModel{"xtts", "tts", xtts, true, 24000, 1, 1, {"cpu"}});
  auto parsed = parse_job_submission("application/json",
                                     R"({"model":"xtts","input":{"text":"Hola","language":"es-ES"}})",
                                     catalog, test_limits());
  ASSERT_TRUE(std::holds_alternative<SubmitRequest>(parsed));
  EXPECT_EQ(std::get<SubmitRequest>(parsed).input["language"], "es");
}

TEST(GatewayApi, OriginalTtsGenerateShape) {
  auto parsed = parse_tts_generate("application/json", R"({"text":"hallo","language":"de"})", test_catalog(),
                                   test_limits());
  ASSERT_TRUE(std::holds_alternative<SubmitRequest>(parsed));
  EXPECT_EQ(std::get<SubmitRequest>(parsed).model, "espeak");
  EXPECT_EQ(std::get<SubmitRequest>(parsed).input["language"], "de");
  EXPECT_EQ(expect_error(
                parse_tts_generate("application/json", R"({"language":"de"})", test_catalog(), test_limits()))
                .code,
            ErrorCode::kMissingField);
}

TEST(GatewayApi, ErrorBodyShape) {
  auto body = nlohmann::json::parse(error_body(api_error(ErrorCode::kTextTooLong, "too long")));
  EXPECT_EQ(body["error"]["code"], "text_too_long");
  EXPECT_EQ(body["error"]["message"], "too long");
}

TEST(GatewayApi, RenderJobComputesTimings) {
  auto job = render_job({{"id", "abc"},
                         {"state", "succeeded"},
                         {"kind", "tts"},
                         {"model", "espeak"},
                         {"input", R"({"text":"hi"})"},
                         {"created_ms", "1000"},
                         {"started_ms", "1005"},
                         {"finished_ms", "1030"},
                         {"result", R"({"audio_path":"/x.wav"})"},
                         {"attempts", "1"}});
  EXPECT_EQ(job["timings"]["queued_ms"], 5);
  EXPECT_EQ(job["timings"]["running_ms"], 25);
  EXPECT_EQ(job["timings"]["total_ms"], 30);
  EXPECT_EQ(job["result"]["audio_path"], "/x.wav");
  EXPECT_EQ(job["input"]["text"], "hi");
  EXPECT_FALSE(job.contains("error"));
}

TEST(GatewayApi, WaitParameter) {
  EXPECT_EQ(std::get<double>(parse_wait("", 60)), 0.0);
  EXPECT_EQ(std::get<double>(parse_wait("wait=2.5", 60)), 2.5);
  EXPECT_EQ(std::get<double>(parse_wait("x=1&wait=600", 60)), 60.0);
  EXPECT_TRUE(std::holds_alternative<ApiError>(parse_wait("wait=-1", 60)));
  EXPECT_TRUE(std::holds_alternative<ApiError>(parse_wait("wait=abc", 60)));
  EXPECT_TRUE(std::holds_alternative<ApiError>(parse_wait("wait=nan", 60)));
}

// Guards video submissions: kind video goes to the default video model; the portrait and the speech must be
// files where workers may read them (no "..", no other server paths); mode and size are checked; the
// original /video/generate shape works.
TEST(GatewayApi, VideoJobsNameTheirFilesInsideTheAllowedFolders) {
  auto parsed = submit(
      R"({"kind":"video","input":{"reference_image":"uploads/face.png","audio_path":"/srv/inputs/ref.wav"}})");
  ASSERT_TRUE(std::holds_alternative<SubmitRequest>(parsed)) << std::get<ApiError>(parsed).message;
  const auto& request = std::get<SubmitRequest>(parsed);
  EXPECT_EQ(request.model, "portrait");
  EXPECT_EQ(request.input["audio_path"], "ref.wav");  // normalised to its name under the input folder
  auto code = [](const std::string& body) { return expect_error(submit(body)).code; };
  EXPECT_EQ(code(R"({"kind":"video","input":{"audio_path":"ref.wav"}})"), ErrorCode::kMissingField);
  EXPECT_EQ(code(R"({"kind":"video","input":{"reference_image":"../etc/passwd","audio_path":"ref.wav"}})"),
            ErrorCode::kInvalidInput);
  EXPECT_EQ(
      code(R"({"kind":"video","input":{"reference_image":"uploads/face.png","audio_path":"/etc/passwd"}})"),
      ErrorCode::kInvalidInput);
  EXPECT_EQ(code(R"({"kind":"video","input":{"reference_image":"uploads/none.png","audio_path":"ref.wav"}})"),
            ErrorCode::kInvalidInput);
  EXPECT_EQ(
      code(
          R"({"kind":"video","input":{"reference_image":"uploads/face.png","audio_path":"ref.wav","mode":"x"}})"),
      ErrorCode::kInvalidInput);
  EXPECT_EQ(
      code(
          R"({"kind":"video","input":{"reference_image":"uploads/face.png","audio_path":"ref.wav","size":64}})"),
      ErrorCode::kInvalidInput);
  EXPECT_EQ(
      code(
          R"({"kind":"video","model":"espeak","input":{"reference_image":"uploads/face.png","audio_path":"ref.wav"}})"),
      ErrorCode::kUnknownModel);  // a TTS model: no video model of that name

  auto original = parse_video_generate(
      "application/json",
      R"({"audio_path":"ref.wav","reference_image":"uploads/face.png","mode":"lip_sync"})", test_catalog(),
      test_limits());
  ASSERT_TRUE(std::holds_alternative<SubmitRequest>(original));
  EXPECT_EQ(std::get<SubmitRequest>(original).kind, "video");
  EXPECT_EQ(std::get<SubmitRequest>(original).input["mode"], "lip_sync");
}

// Guards api.cpp's promise of no I/O of its own (#33): a TTS result named by the absolute path /tts/generate
// answered is checked only through the gateway's tts_result_exists, so the folder need not exist here; with
// no such callback, no result is accepted.
TEST(GatewayApi, ATtsResultPathIsCheckedThroughTheGatewaysCallbackOnly) {
  Limits limits = test_limits();
  limits.tts_results = "/nowhere/gpufleet-test/tts";
  std::vector<std::filesystem::path> asked;
  bool exists = true;
  limits.tts_result_exists = [&](const std::filesystem::path& relative) {
    asked.push_back(relative);
    return exists;
  };
  const std::string body =
      R"({"audio_path":"/nowhere/gpufleet-test/tts/0123456789abcdef0123456789abcdef-1.wav",)"
      R"("reference_image":"uploads/face.png"})";
  auto accepted = parse_video_generate("application/json", body, test_catalog(), limits);
  ASSERT_TRUE(std::holds_alternative<SubmitRequest>(accepted));
  EXPECT_EQ(std::get<SubmitRequest>(accepted).input["audio_path"],
            "/nowhere/gpufleet-test/tts/0123456789abcdef0123456789abcdef-1.wav");
  ASSERT_EQ(asked.size(), 1u);
  EXPECT_EQ(asked[0], std::filesystem::path("0123456789abcdef0123456789abcdef-1.wav"));

  exists = false;
  EXPECT_EQ(expect_error(parse_video_generate("application/json", body, test_catalog(), limits)).code,
            ErrorCode::kInvalidInput);
  limits.tts_result_exists = nullptr;
  EXPECT_EQ(expect_error(parse_video_generate("application/json", body, test_catalog(), limits)).code,
            ErrorCode::kInvalidInput);
}

// Guards the original service's mode names: a runtime written against its documentation ("mode":
// "liveportrait", "wav2lip", "lipsync") gets video, on that network's backend when a worker serves it and on
// the default video model otherwise; a model named in the request is kept; a mode the model lacks is refused.
// Guards two answers schemathesis found against the OpenAPI description (#19): an Idempotency-Key header
// sent empty is refused (not taken as "no key", which would make a new job on every retry), and a model of
// another kind is an unknown model of the asked kind (404), as a name no model has is.
TEST(GatewayApi, AnEmptyIdempotencyKeyIsRefusedAndAModelOfAnotherKindIsUnknown) {
  EXPECT_EQ(std::get<std::string>(parse_idempotency_key(std::nullopt)), "");
  EXPECT_EQ(std::get<std::string>(parse_idempotency_key(std::string_view("retry-1"))), "retry-1");
  EXPECT_EQ(std::get<ApiError>(parse_idempotency_key(std::string_view(""))).code, ErrorCode::kInvalidRequest);
  EXPECT_EQ(std::get<ApiError>(parse_idempotency_key(std::string_view("a b"))).code,
            ErrorCode::kInvalidRequest);
  EXPECT_EQ(std::get<ApiError>(parse_idempotency_key(std::string_view(std::string(256, 'k')))).code,
            ErrorCode::kInvalidRequest);

  auto wrong_kind = expect_error(parse_video_generate(
      "application/json", R"({"model":"espeak","audio_path":"ref.wav","reference_image":"uploads/face.png"})",
      test_catalog(), test_limits()));
  EXPECT_EQ(wrong_kind.code, ErrorCode::kUnknownModel);
  EXPECT_EQ(wrong_kind.status, 404);
  EXPECT_NE(wrong_kind.message.find("serves tts jobs"), std::string::npos) << wrong_kind.message;
}

TEST(GatewayApi, TheOriginalVideoModeNamesChooseTheirBackendWhenServed) {
  const std::string files = R"("audio_path":"ref.wav","reference_image":"uploads/face.png")";
  auto video = [&](const Catalog& catalog, const std::string& fields) {
    auto parsed =
        parse_video_generate("application/json", "{" + files + "," + fields + "}", catalog, test_limits());
    EXPECT_TRUE(std::holds_alternative<SubmitRequest>(parsed)) << std::get<ApiError>(parsed).message;
    return std::holds_alternative<SubmitRequest>(parsed) ? std::get<SubmitRequest>(parsed) : SubmitRequest{};
  };
  const Catalog embedded_only = test_catalog();
  auto request = video(embedded_only, R"("mode":"liveportrait")");
  EXPECT_EQ(request.model, "portrait");
  EXPECT_EQ(request.input["mode"], "talking_head");
  EXPECT_EQ(video(embedded_only, R"("mode":"lipsync")").input["mode"], "lip_sync");
  EXPECT_EQ(video(embedded_only, R"("mode":"wav2lip")").model, "portrait");

  Catalog neural = test_catalog();
  neural.add(CatalogModel{
      "liveportrait", "video", {}, false, 0, 2, 2, {"cuda"}, 1, {"seed"}, {"talking_head", "lip_sync"}});
  neural.add(
      CatalogModel{"wav2lip", "video", {}, false, 0, 0, 0, {}, 1, {"seed"}, {"talking_head", "lip_sync"}});
  EXPECT_EQ(video(neural, R"("mode":"liveportrait")").model, "liveportrait");
  EXPECT_EQ(video(neural, R"("mode":"wav2lip")").model,
            "portrait");  // in the catalog, but no worker serves it
  EXPECT_EQ(video(neural, R"("mode":"liveportrait","model":"portrait")").model, "portrait");
  auto job = parse_job_submission("application/json",
                                  R"({"kind":"video","input":{)" + files + R"(,"mode":"liveportrait"}})",
                                  neural, test_limits());
  ASSERT_TRUE(std::holds_alternative<SubmitRequest>(job));
  EXPECT_EQ(std::get<SubmitRequest>(job).model, "liveportrait");

  Catalog mouth_only = test_catalog();
  mouth_only.add(CatalogModel{"portrait", "video", {}, false, 0, 1, 1, {"cpu"}, 1, {"seed"}, {"lip_sync"}});
  auto refused = parse_video_generate("application/json", "{" + files + R"(,"mode":"talking_head"})",
                                      mouth_only, test_limits());
  EXPECT_EQ(expect_error(refused).code, ErrorCode::kInvalidInput);
  EXPECT_EQ(expect_error(parse_video_generate("application/json", "{" + files + R"(,"mode":"LIVEPORTRAIT"})",
                                              embedded_only, test_limits()))
                .code,
            ErrorCode::kInvalidInput);
}

// Guards lip sync of a video (#19): kind lipsync and /lipsync/generate are video jobs whose input names an
// uploaded video, in mode lip_sync, on a model that offers lip_sync_video (the default when it does, else one
// that does); a portrait and a video together, a size, another mode or a portrait-only model are refused.
TEST(GatewayApi, ALipsyncJobIsAVideoJobOnAModelThatLipSyncsVideos) {
  Catalog catalog = test_catalog();  // portrait animates portraits only here
  catalog.add(CatalogModel{
      "dubber", "video", {}, false, 0, 1, 1, {"cpu"}, 1, {"seed"}, {"lip_sync", "lip_sync_video"}});
  Limits limits = test_limits();
  limits.reference_exists = [](const std::filesystem::path&) { return true; };
  auto job = parse_job_submission(
      "application/json", R"({"kind":"lipsync","input":{"video":"uploads/a.mp4","audio_path":"ref.wav"}})",
      catalog, limits);
  ASSERT_TRUE(std::holds_alternative<SubmitRequest>(job)) << std::get<ApiError>(job).message;
  const auto& request = std::get<SubmitRequest>(job);
  EXPECT_EQ(request.kind, "video");
  EXPECT_EQ(request.model, "dubber");
  EXPECT_EQ(request.input["mode"], "lip_sync");
  EXPECT_EQ(request.input["video"], "uploads/a.mp4");

  auto from_text = parse_lipsync_generate("application/json", R"({"video":"uploads/a.mp4","text":"Hello"})",
                                          catalog, limits);
  ASSERT_TRUE(std::holds_alternative<SubmitRequest>(from_text)) << std::get<ApiError>(from_text).message;
  ASSERT_EQ(std::get<SubmitRequest>(from_text).stages.size(), 2u);
  EXPECT_EQ(std::get<SubmitRequest>(from_text).stages[1].model, "dubber");

  auto refused = [&](const std::string& body) {
    return expect_error(parse_lipsync_generate("application/json", body, catalog, limits)).code;
  };
  EXPECT_EQ(refused(R"({"text":"Hello"})"), ErrorCode::kMissingField);
  EXPECT_EQ(refused(R"({"video":"uploads/a.mp4","reference_image":"uploads/face.png","text":"Hi"})"),
            ErrorCode::kInvalidInput);
  EXPECT_EQ(refused(R"({"video":"uploads/a.mp4","audio_path":"ref.wav","size":256})"),
            ErrorCode::kInvalidInput);
  EXPECT_EQ(refused(R"({"video":"uploads/a.mp4","audio_path":"ref.wav","mode":"talking_head"})"),
            ErrorCode::kInvalidInput);
  EXPECT_EQ(refused(R"({"video":"uploads/a.mp4","audio_path":"ref.wav","model":"portrait"})"),
            ErrorCode::kInvalidInput);
  EXPECT_EQ(refused(R"({"video":"../a.mp4","audio_path":"ref.wav"})"), ErrorCode::kInvalidInput);
  EXPECT_EQ(
      expect_error(parse_job_submission("application/json", R"({"kind":"dub","input":{}})", catalog, limits))
          .code,
      ErrorCode::kInvalidRequest);
}

// Guards the upload check of videos: the container decides the stored extension, the named type must match
// it (MP4 and MOV are one structure), and files that are no video, hold no picture, or are too long or too
// large are refused with their codes before anything is stored.
TEST(GatewayApi, VideoUploadsAreCheckedByTheirContainer) {
  auto box = [](const std::string& type, const std::string& body) {
    const uint32_t size = static_cast<uint32_t>(body.size() + 8);
    return std::string{static_cast<char>(size >> 24), static_cast<char>(size >> 16),
                       static_cast<char>(size >> 8), static_cast<char>(size)} +
           type + body;
  };
  auto be32 = [](uint32_t v) {
    return std::string{static_cast<char>(v >> 24), static_cast<char>(v >> 16), static_cast<char>(v >> 8),
                       static_cast<char>(v)};
  };
  auto mp4 = [&](uint32_t seconds, uint32_t side, const char* handler) {
    const std::string mvhd =
        std::string(12, '\0') + be32(1000) + be32(seconds * 1000) + std::string(80, '\0');
    const std::string tkhd = std::string(24 + 52, '\0') + be32(side << 16) + be32(side << 16);
    const std::string hdlr = std::string(8, '\0') + handler + std::string(12, '\0');
    return box("ftyp", "isom" + be32(0)) +
           box("moov", box("mvhd", mvhd) + box("trak", box("tkhd", tkhd) + box("mdia", box("hdlr", hdlr))));
  };
  auto code_of = [](const std::variant<Upload, ApiError>& parsed) {
    return std::holds_alternative<ApiError>(parsed) ? std::get<ApiError>(parsed).code : ErrorCode::kInternal;
  };
  auto upload = parse_upload("video/mp4", mp4(3, 640, "vide"));
  ASSERT_TRUE(std::holds_alternative<Upload>(upload)) << std::get<ApiError>(upload).message;
  const auto& stored = std::get<Upload>(upload);
  EXPECT_EQ(stored.relative.extension(), ".mp4");
  const auto json = upload_json(stored);
  EXPECT_EQ(json["video"], stored.relative.string());
  EXPECT_EQ(json["width"], 640);
  EXPECT_DOUBLE_EQ(json["duration_s"].get<double>(), 3.0);
  EXPECT_TRUE(std::holds_alternative<Upload>(parse_upload("video/quicktime", mp4(3, 640, "vide"))));
  EXPECT_EQ(code_of(parse_upload("video/webm", mp4(3, 640, "vide"))), ErrorCode::kUnreadableMedia);
  EXPECT_EQ(code_of(parse_upload("video/mp4", "definitely not a video")), ErrorCode::kUnreadableMedia);
  EXPECT_EQ(code_of(parse_upload("video/mp4", mp4(3, 0, "soun"))), ErrorCode::kUnreadableMedia);
  EXPECT_EQ(code_of(parse_upload("video/mp4", mp4(700, 640, "vide"))), ErrorCode::kMediaTooLong);
  EXPECT_EQ(code_of(parse_upload("video/mp4", mp4(3, 640, "vide"), 16777216, 2)), ErrorCode::kMediaTooLong);
  EXPECT_EQ(code_of(parse_upload("video/mp4", mp4(3, 8000, "vide"))), ErrorCode::kInvalidInput);
  EXPECT_EQ(code_of(parse_upload("video/x-msvideo", mp4(3, 640, "vide"))), ErrorCode::kUnsupportedMediaType);
}

// Guards text-to-video: a video job given text instead of audio_path becomes one job of two stages, speech on
// the TTS model (asking for phoneme timings) then the video on its result, each stage's input checked at
// submission so that a bad voice or portrait is refused before anything runs.
TEST(GatewayApi, AVideoFromTextIsAPipelineOfSpeechThenVideo) {
  auto parsed =
      submit(R"({"kind":"video","input":{"text":"Hallo","language":"de","reference_image":"uploads/face.png",
                          "mode":"lip_sync","tts":{"speed":1.1}}})");
  ASSERT_TRUE(std::holds_alternative<SubmitRequest>(parsed)) << std::get<ApiError>(parsed).message;
  const auto& request = std::get<SubmitRequest>(parsed);
  EXPECT_EQ(request.kind, "tts");  // the record's kind, model and input are the running stage's
  EXPECT_EQ(request.model, "espeak");
  EXPECT_EQ(request.input["text"], "Hallo");
  EXPECT_EQ(request.input["language"], "de");
  EXPECT_EQ(request.input["speed"], 1.1);
  EXPECT_EQ(request.input["timings"], true);
  ASSERT_EQ(request.stages.size(), 2u);
  EXPECT_EQ(request.stages[0].model, "espeak");
  EXPECT_EQ(request.stages[1].kind, "video");
  EXPECT_EQ(request.stages[1].model, "portrait");
  EXPECT_EQ(request.stages[1].input["mode"], "lip_sync");
  EXPECT_FALSE(request.stages[1].input.contains("text"));
  EXPECT_FALSE(request.stages[1].input.contains("tts"));
  EXPECT_EQ(request.stages[1].from_previous, (std::vector<std::pair<std::string, std::string>>{
                                                 {"audio_path", "audio_path"}, {"phonemes", "phonemes"}}));
  const auto round_trip = parse_pipeline(pipeline_to_json(request.stages));
  ASSERT_TRUE(round_trip);
  EXPECT_EQ((*round_trip)[1].input, request.stages[1].input);

  auto code = [](const std::string& body) { return expect_error(submit(body)).code; };
  EXPECT_EQ(
      code(
          R"({"kind":"video","input":{"text":"Hi","reference_image":"uploads/face.png","tts_model":"none"}})"),
      ErrorCode::kUnknownModel);
  EXPECT_EQ(
      code(
          R"({"kind":"video","input":{"text":"Hi","reference_image":"uploads/face.png","tts_model":"portrait"}})"),
      ErrorCode::kUnknownModel);  // a video model: no tts model of that name
  EXPECT_EQ(
      code(R"({"kind":"video","input":{"text":"Hi","reference_image":"uploads/face.png","tts":"fast"}})"),
      ErrorCode::kInvalidRequest);
  EXPECT_EQ(
      code(R"({"kind":"video","input":{"text":"Hi","reference_image":"uploads/face.png","language":"xx"}})"),
      ErrorCode::kUnsupportedLanguage);
  EXPECT_EQ(
      code(
          R"({"kind":"video","input":{"text":"Hi","reference_image":"uploads/face.png","speaker_wav":"ref.wav"}})"),
      ErrorCode::kCannotClone);
  EXPECT_EQ(code(R"({"kind":"video","input":{"text":"Hi","reference_image":"uploads/missing.png"}})"),
            ErrorCode::kInvalidInput);
  EXPECT_EQ(
      code(
          R"({"kind":"video","input":{"text":"much longer than twenty characters","reference_image":"uploads/face.png"}})"),
      ErrorCode::kTextTooLong);
  EXPECT_EQ(
      code(
          R"({"kind":"video","input":{"audio_path":"ref.wav","reference_image":"uploads/face.png","phonemes":[]}})"),
      ErrorCode::kInvalidInput);

  // The original route takes the same shape.
  auto original =
      parse_video_generate("application/json", R"({"text":"Hi","reference_image":"uploads/face.png"})",
                           test_catalog(), test_limits());
  ASSERT_TRUE(std::holds_alternative<SubmitRequest>(original));
  EXPECT_EQ(std::get<SubmitRequest>(original).stages.size(), 2u);
}

// Guards how a pipeline job reads: as what it makes (its last stage's kind and model), with each stage's
// state and the finished stages' results, and later stages pending (or skipped once the job ended).
TEST(GatewayApi, RenderJobShowsAPipelinesStages) {
  std::vector<PipelineStage> stages{
      {"tts", "espeak", {{"text", "Hi"}}, {}},
      {"video", "portrait", {{"reference_image", "uploads/face.png"}}, {{"audio_path", "audio_path"}}}};
  std::vector<std::pair<std::string, std::string>> fields{{"id", "abc"},
                                                          {"kind", "tts"},
                                                          {"model", "espeak"},
                                                          {"state", "running"},
                                                          {"input", R"({"text":"Hi"})"},
                                                          {"stages", pipeline_to_json(stages)},
                                                          {"stage", "0"}};
  auto job = render_job(fields);
  EXPECT_EQ(job["kind"], "video");
  EXPECT_EQ(job["model"], "portrait");
  EXPECT_EQ(job["stage"], 0);
  EXPECT_EQ(job["stages"][0]["state"], "running");
  EXPECT_EQ(job["stages"][0]["input"]["text"], "Hi");
  EXPECT_EQ(job["stages"][1]["state"], "pending");

  fields = {{"id", "abc"},         {"kind", "video"},
            {"model", "portrait"}, {"state", "failed"},
            {"input", "{}"},       {"stages", pipeline_to_json(stages)},
            {"stage", "1"},        {"stage_result_0", R"({"audio_path":"/s/tts/a.wav"})"}};
  job = render_job(fields);
  EXPECT_EQ(job["stages"][0]["state"], "succeeded");
  EXPECT_EQ(job["stages"][0]["result"]["audio_path"], "/s/tts/a.wav");
  EXPECT_EQ(job["stages"][1]["state"], "failed");

  stages.push_back({"video", "other", nlohmann::json::object(), {}});
  fields[6] = {"stage", "0"};
  fields[5] = {"stages", pipeline_to_json(stages)};
  job = render_job(fields);
  EXPECT_EQ(job["stages"][2]["state"], "skipped");
}

// Guards the stage list's own checks: anything but 2-4 well-formed stages is refused, and the next stage's
// input takes the named fields of the previous result (absent ones stay absent).
TEST(GatewayApi, PipelineStagesParseStrictlyAndFillTheNextInput) {
  EXPECT_FALSE(parse_pipeline("[]"));
  EXPECT_FALSE(parse_pipeline("not json"));
  EXPECT_FALSE(parse_pipeline(R"([{"kind":"tts","model":"a","input":{}}])"));  // one stage is no pipeline
  EXPECT_FALSE(
      parse_pipeline(R"([{"kind":"tts","model":"a","input":{}},{"kind":"film","model":"b","input":{}}])"));
  EXPECT_FALSE(
      parse_pipeline(R"([{"kind":"tts","model":"a","input":{}},{"kind":"video","model":"","input":{}}])"));
  EXPECT_FALSE(
      parse_pipeline(R"([{"kind":"tts","model":"a","input":{}},{"kind":"video","model":"b","input":[]}])"));
  EXPECT_FALSE(parse_pipeline(
      R"([{"kind":"tts","model":"a","input":{}},{"kind":"video","model":"b","input":{},"from_previous":{"x":1}}])"));
  const PipelineStage next{
      "video", "portrait", {{"size", 256}}, {{"audio_path", "audio_path"}, {"phonemes", "phonemes"}}};
  auto input = next_stage_input(next, R"({"audio_path":"/s/a.wav","duration_s":1.5})");
  ASSERT_TRUE(input);
  EXPECT_EQ(nlohmann::json::parse(*input), (nlohmann::json{{"size", 256}, {"audio_path", "/s/a.wav"}}));
  EXPECT_FALSE(next_stage_input(next, "[1,2]"));
}

// Guards portrait uploads: PNG and JPEG by their headers, with the claimed type; a small file claiming a vast
// image is refused before anything decodes it.
TEST(GatewayApi, PortraitUploadsAreCheckedByTheirHeaders) {
  std::string png("\x89PNG\r\n\x1a\n\0\0\0\x0dIHDR\0\0\x02\0\0\0\x01\x80\x08\x02\0\0\0", 29);
  png += std::string(64, '\0');
  auto upload = parse_upload("image/png", png);
  ASSERT_TRUE(std::holds_alternative<Upload>(upload));
  const auto json = upload_json(std::get<Upload>(upload));
  EXPECT_EQ(json["width"], 512);
  EXPECT_EQ(json["height"], 384);
  EXPECT_EQ(json["reference_image"], "uploads/" + json["id"].get<std::string>() + ".png");
  auto code_of = [](const std::variant<Upload, ApiError>& parsed) { return std::get<ApiError>(parsed).code; };
  EXPECT_EQ(code_of(parse_upload("image/jpeg", png)), ErrorCode::kInvalidInput);  // says JPEG, is PNG
  EXPECT_EQ(code_of(parse_upload("image/png", "not a png at all")), ErrorCode::kInvalidInput);
  EXPECT_EQ(code_of(parse_upload("image/gif", png)), ErrorCode::kUnsupportedMediaType);
  EXPECT_EQ(code_of(parse_upload("image/png", png, 512 * 383)), ErrorCode::kInvalidInput);
  // A JPEG: SOI, an APP0 segment, then the frame header with height 300 and width 200.
  std::string jpeg(
      "\xff\xd8\xff\xe0\0\x04"
      "ab\xff\xc0\0\x0b\x08\x01\x2c\0\xc8\x01\x01\x11\0",
      21);
  auto jpeg_upload = parse_upload("image/jpeg", jpeg);
  ASSERT_TRUE(std::holds_alternative<Upload>(jpeg_upload));
  EXPECT_EQ(upload_json(std::get<Upload>(jpeg_upload))["width"], 200);
  EXPECT_EQ(upload_json(std::get<Upload>(jpeg_upload))["height"], 300);
}

// Guards API keys: only hashes are stored; a missing, malformed or unknown token is refused; each key has
// its own token bucket (a burst, then the rate), refilled by time; malformed key files name their line.
TEST(ApiKeys, TokensAreCheckedByTheirHashAndEachKeyHasItsRate) {
  const auto [alice_token, alice_line] = ApiKeys::generate("alice", 2, 3);
  const auto [bob_token, bob_line] = ApiKeys::generate("bob");
  EXPECT_EQ(alice_token.rfind("gf_", 0), 0u);
  EXPECT_EQ(alice_line, "alice " + sha256_hex(alice_token) + " 2 3");
  EXPECT_EQ(alice_line.find(alice_token), std::string::npos) << "the keys file must not hold the token";
  auto keys = ApiKeys::parse("# fleet keys\n" + alice_line + "\n\n" + bob_line + "  # no limit\n");
  ASSERT_EQ(keys.size(), 2u);
  const auto t0 = ApiKeys::Clock::now();
  using Verdict = Admission::Verdict;
  EXPECT_EQ(keys.admit("", t0).verdict, Verdict::kMissing);
  EXPECT_EQ(keys.admit("Basic abc", t0).verdict, Verdict::kMissing);
  EXPECT_EQ(keys.admit("Bearer gf_nope", t0).verdict, Verdict::kUnknown);
  EXPECT_EQ(keys.admit("Bearer " + sha256_hex(alice_token), t0).verdict,
            Verdict::kUnknown);  // the hash is no token
  // Alice: a burst of 3, then 2 per second.
  for (int i = 0; i < 3; ++i)
    EXPECT_EQ(keys.admit("Bearer " + alice_token, t0).verdict, Verdict::kAllowed) << i;
  const auto limited = keys.admit("Bearer " + alice_token, t0);
  EXPECT_EQ(limited.verdict, Verdict::kRateLimited);
  EXPECT_EQ(limited.key_name, "alice");
  EXPECT_NEAR(limited.retry_after_s, 0.5, 1e-9);
  EXPECT_EQ(keys.admit("Bearer " + alice_token, t0 + std::chrono::milliseconds(500)).verdict,
            Verdict::kAllowed);
  EXPECT_EQ(keys.admit("Bearer " + alice_token, t0 + std::chrono::milliseconds(600)).verdict,
            Verdict::kRateLimited);
  // Bob has no limit, and Alice's bucket is hers alone.
  for (int i = 0; i < 100; ++i) EXPECT_EQ(keys.admit("Bearer " + bob_token, t0).verdict, Verdict::kAllowed);

  auto error_of = [](const std::string& text) {
    try {
      ApiKeys::parse(text);
    } catch (const ConfigError& error) {
      return std::string(error.what());
    }
    return std::string();
  };
  EXPECT_NE(error_of("alice 1234").find("line 1"), std::string::npos);
  EXPECT_NE(error_of(alice_line + ";" + alice_line).find("listed twice"), std::string::npos);
  EXPECT_NE(error_of("carol " + std::string(64, 'a') + " -1").find("non-negative"), std::string::npos);
  EXPECT_NE(error_of("carol " + std::string(64, 'a') + " fast").find("numbers"), std::string::npos);
  EXPECT_FALSE(ApiKeys::parse("").enabled());
}

// Tenancy: a key's references must be its own uploads; another key's are refused as a missing file would be.
TEST(Tenancy, AKeyReferencesOnlyItsOwnUploads) {
  const Caller alice{"alice", false};
  const Caller bob{"bob", false};
  EXPECT_EQ(upload_folder(Caller{}), std::filesystem::path("uploads"));
  EXPECT_NE(upload_folder(alice), upload_folder(bob));
  EXPECT_EQ(upload_folder(alice).parent_path(), std::filesystem::path("uploads"));
  Limits limits = test_limits();
  limits.reference_exists = [](const std::filesystem::path&) { return true; };  // every file exists here
  limits.reference_folder = upload_folder(alice);
  auto submit_as = [&](const std::filesystem::path& reference) {
    return parse_job_submission(
        "application/json",
        R"({"model":"clone","input":{"text":"hi","speaker_wav":")" + reference.string() + R"("}})",
        test_catalog(), limits);
  };
  EXPECT_TRUE(std::holds_alternative<SubmitRequest>(submit_as(upload_folder(alice) / "a.wav")));
  auto refused = expect_error(submit_as(upload_folder(bob) / "a.wav"));
  EXPECT_EQ(refused.code, ErrorCode::kInvalidInput);
  EXPECT_EQ(refused.message.find("bob"), std::string::npos);
  EXPECT_TRUE(std::holds_alternative<ApiError>(submit_as("uploads/known.wav")));
  EXPECT_TRUE(alice.owns("alice"));
  EXPECT_FALSE(alice.owns("bob"));
  EXPECT_TRUE((Caller{"ops", true}).owns("bob"));
}

// A worker named /etc/shadow (or another folder's file) as its result and set its own content type.
TEST(Tenancy, AResultIsServedOnlyFromItsKindsFolderWithAnAllowedType) {
  auto audio = served_result({{"audio_path", "/srv/tts/x-1.wav"}, {"content_type", "text/html"}}, "tts");
  ASSERT_TRUE(audio);
  EXPECT_EQ(audio->folder, "tts");
  EXPECT_EQ(audio->content_type, "audio/wav");
  auto video = served_result({{"video_path", "/srv/video/x-1.mp4"}, {"content_type", "video/mp4"}}, "video");
  ASSERT_TRUE(video);
  EXPECT_EQ(video->folder, "video");
  EXPECT_FALSE(served_result({{"video_path", "/srv/tts/x-1.wav"}}, "tts"));
  EXPECT_FALSE(served_result({{"audio_path", 5}}, "tts"));
  EXPECT_EQ(tts_result_job_id("/srv/tts/0123456789abcdef0123456789abcdef-2.wav"),
            "0123456789abcdef0123456789abcdef");
  EXPECT_FALSE(tts_result_job_id("/srv/tts/passwd"));
}

TEST(ApiKeys, OperatorKeysAreMarkedAndNamesAreSafeToStore) {
  const auto [token, line] = ApiKeys::generate("ops", 0, 0, true);
  EXPECT_NE(line.find(" operator"), std::string::npos);
  auto keys = ApiKeys::parse(line + "\n" + ApiKeys::generate("user", 5).second);
  auto admission = keys.admit("Bearer " + token, ApiKeys::Clock::now());
  EXPECT_EQ(admission.verdict, Admission::Verdict::kAllowed);
  EXPECT_TRUE(admission.is_operator);
  EXPECT_NO_THROW(ApiKeys::parse("a " + std::string(64, 'a') + " 2 4 operator"));
  EXPECT_THROW(ApiKeys::parse(".. " + std::string(64, 'a')), ConfigError);
  EXPECT_THROW(ApiKeys::parse("a/b " + std::string(64, 'a')), ConfigError);
  EXPECT_THROW(ApiKeys::parse("a " + std::string(64, 'a') + " operator 5"), ConfigError);
  EXPECT_THROW(ApiKeys::parse("a " + std::string(64, 'a') + " 1 2 3"), ConfigError);
}

// A body nested 250,000 deep ended the gateway; 1,000 deep was stored.
TEST(GatewayApi, DeeplyNestedBodiesAreRefusedAsInvalidJson) {
  std::string deep = R"({"input":{"text":"hi","x":)" + std::string(1000, '[') + std::string(1000, ']') + "}}";
  auto refused = expect_error(submit(deep));
  EXPECT_EQ(refused.code, ErrorCode::kInvalidJson);
  EXPECT_NE(refused.message.find("64"), std::string::npos);
  EXPECT_EQ(expect_error(submit("{\"input\":{\"text\":\"\xFF\"}}")).code, ErrorCode::kInvalidJson);
}

}  // namespace
}  // namespace gpufleet::gateway

namespace gpufleet::gateway {
namespace {

// Guards the job store's memory guard: INFO memory's fields read exactly (not used_memory_rss or
// maxmemory_policy), no maxmemory means never full, and the high-water mark is inclusive.
TEST(GatewayApi, RedisMemoryIsReadFromInfoAndComparedWithItsLimit) {
  const std::string info =
      "# Memory\r\nused_memory:900\r\nused_memory_human:900B\r\nused_memory_rss:5000\r\nmaxmemory:1000\r\n"
      "maxmemory_human:1000B\r\nmaxmemory_policy:noeviction\r\n";
  auto memory = parse_redis_memory(info);
  ASSERT_TRUE(memory);
  EXPECT_EQ(memory->used, 900u);
  EXPECT_EQ(memory->max, 1000u);
  EXPECT_TRUE(job_store_full(*memory, 90));
  EXPECT_FALSE(job_store_full(*memory, 91));
  EXPECT_FALSE(job_store_full({900, 0}, 1));  // no maxmemory: Redis grows until the host stops it
  EXPECT_FALSE(parse_redis_memory("# Memory\r\nused_memory_rss:5000\r\n"));
  EXPECT_FALSE(parse_redis_memory(""));
}

// Guards gpufleet-bench's Redis cost per job: INFO commandstats read per command (subcommands kept apart),
// calls= not taken from rejected_calls= nor usec= from usec_per_call=, and lines that do not parse skipped.
TEST(GatewayApi, RedisCommandStatsAreReadPerCommand) {
  const std::string info =
      "# Commandstats\r\n"
      "cmdstat_evalsha:rejected_calls=7,calls=300,usec_per_call=2.50,usec=750,failed_calls=0\r\n"
      "cmdstat_config|get:calls=2,usec=11,usec_per_call=5.50,rejected_calls=0,failed_calls=0\r\n"
      "cmdstat_broken:calls=x,usec=1\r\n"
      "cmdstat_:calls=1,usec=1\r\n"
      "used_memory:5\r\n"
      "cmdstat_hset:calls=4,usec=9";
  const auto stats = parse_redis_command_stats(info);
  ASSERT_EQ(stats.size(), 3u);
  EXPECT_EQ(stats.at("evalsha").calls, 300u);
  EXPECT_EQ(stats.at("evalsha").usec, 750u);
  EXPECT_EQ(stats.at("config|get").calls, 2u);
  EXPECT_EQ(stats.at("hset").usec, 9u);
  EXPECT_TRUE(parse_redis_command_stats("").empty());
}

// Guards the OpenAPI description against drift from the code: it parses, and its ErrorCode enum names every
// code the gateway can answer (a new code not described would fail schemathesis only when it is hit).
TEST(GatewayApi, TheOpenApiDescriptionNamesEveryErrorCode) {
  const auto document = nlohmann::json::parse(openapi_json());
  EXPECT_EQ(document["openapi"], "3.1.0");
  const auto& described = document["components"]["schemas"]["ErrorCode"]["enum"];
  for (int code = 0; code <= static_cast<int>(ErrorCode::kIceRestartUnsupported); ++code) {
    const std::string name(to_string(static_cast<ErrorCode>(code)));
    EXPECT_NE(std::find(described.begin(), described.end(), name), described.end()) << name;
  }
  EXPECT_EQ(described.size(), static_cast<size_t>(ErrorCode::kIceRestartUnsupported) + 1);
  for (const char* path : {"/health", "/tts/generate", "/video/generate", "/lipsync/generate", "/v1/jobs",
                           "/v1/jobs/{id}", "/v1/files"}) {
    EXPECT_TRUE(document["paths"].contains(path)) << path;
  }
}

}  // namespace
}  // namespace gpufleet::gateway

namespace gpufleet::gateway {
namespace {

std::variant<std::vector<BatchItem>, ApiError> batch(const std::string& body) {
  return parse_job_batch("application/json", body, test_catalog(), test_limits());
}

// Guards POST /v1/jobs:batch's parse: a batch is refused whole only for its shape (and then with a code);
// every job in it is checked on its own, a bad one failing alone, and an idempotency key travels with its job
// and not into the job's input.
TEST(GatewayApiBatch, AWrongShapeRefusesTheBatchAndABadJobOnlyItself) {
  for (const std::string body : {R"({"jobs":[]})", R"({"jobs":{}})", R"({"jobs":"x"})",
                                 R"({"jobs":[{"input":{"text":"a"}}],"extra":1})"}) {
    auto parsed = batch(body);
    ASSERT_TRUE(std::holds_alternative<ApiError>(parsed)) << body;
    EXPECT_EQ(std::get<ApiError>(parsed).code, ErrorCode::kInvalidRequest) << body;
  }
  EXPECT_EQ(std::get<ApiError>(batch("{}")).code, ErrorCode::kMissingField);
  EXPECT_EQ(std::get<ApiError>(batch("[1]")).code, ErrorCode::kInvalidJson);
  EXPECT_EQ(
      std::get<ApiError>(parse_job_batch("text/plain", R"({"jobs":[]})", test_catalog(), test_limits())).code,
      ErrorCode::kUnsupportedMediaType);

  nlohmann::json jobs = nlohmann::json::array();
  for (size_t i = 0; i <= kMaxBatchJobs; ++i) jobs.push_back({{"input", {{"text", "a"}}}});
  EXPECT_TRUE(std::holds_alternative<ApiError>(batch(nlohmann::json{{"jobs", jobs}}.dump())));
  jobs.erase(jobs.begin());
  ASSERT_TRUE(std::holds_alternative<std::vector<BatchItem>>(batch(nlohmann::json{{"jobs", jobs}}.dump())));

  auto parsed = batch(R"({"jobs":[{"input":{"text":"fine"}}, 7, {"model":"nope","input":{"text":"a"}},
      {"input":{"text":"this text is far longer than twenty characters"}}, {"idempotency_key":5,"input":{"text":"a"}},
      {"idempotency_key":"bad key","input":{"text":"a"}}, {"idempotency_key":"k-1","input":{"text":"keyed"}}]})");
  ASSERT_TRUE(std::holds_alternative<std::vector<BatchItem>>(parsed));
  const auto& items = std::get<std::vector<BatchItem>>(parsed);
  ASSERT_EQ(items.size(), 7u);
  EXPECT_TRUE(std::holds_alternative<Submission>(items[0]));
  EXPECT_EQ(std::get<ApiError>(items[1]).code, ErrorCode::kInvalidRequest);
  EXPECT_EQ(std::get<ApiError>(items[2]).status, 404);  // unknown model, as POST /v1/jobs says
  EXPECT_EQ(std::get<ApiError>(items[3]).code, ErrorCode::kTextTooLong);
  EXPECT_EQ(std::get<ApiError>(items[4]).code, ErrorCode::kInvalidRequest);
  EXPECT_EQ(std::get<ApiError>(items[5]).code, ErrorCode::kInvalidRequest);
  ASSERT_TRUE(std::holds_alternative<Submission>(items[6]));
  EXPECT_EQ(std::get<Submission>(items[6]).idempotency_key, "k-1");
  EXPECT_FALSE(std::get<Submission>(items[6]).fingerprint.empty());
  EXPECT_FALSE(std::get<Submission>(items[6]).request.input.contains("idempotency_key"));
  EXPECT_TRUE(std::get<Submission>(items[0]).idempotency_key.empty());
}

// Guards the idempotency fingerprint of a batch job: the same job sent again (other spacing, key order) is a
// retry; other content under the same key is not.
TEST(GatewayApiBatch, AJobsFingerprintIsItsContent) {
  auto first = batch(R"({"jobs":[{"idempotency_key":"k","input":{"text":"a"},"priority":1}]})");
  auto spaced =
      batch(R"({ "jobs" : [ { "priority" : 1, "input" : { "text" : "a" }, "idempotency_key" : "k" } ] })");
  auto other = batch(R"({"jobs":[{"idempotency_key":"k","input":{"text":"b"},"priority":1}]})");
  const auto print = [](const auto& parsed) {
    return std::get<Submission>(std::get<std::vector<BatchItem>>(parsed)[0]).fingerprint;
  };
  EXPECT_EQ(print(first), print(spaced));
  EXPECT_NE(print(first), print(other));
}

}  // namespace
}  // namespace gpufleet::gateway
