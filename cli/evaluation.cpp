#include "cli/evaluation.hpp"

#include <algorithm>
#include <cmath>
#include <numeric>
#include <set>
#include <sstream>

#include "cli/text_columns.hpp"

namespace gpufleet::cli {

using nlohmann::json;

namespace {

struct Sentences {
  const char* language;
  const char* short_text;
  const char* medium_text;
  const char* long_text;
};

// Three lengths per language: a greeting, a sentence of a notice, a paragraph of several sentences (which
// models that split text into sentences take in parts).
const Sentences kSentences[] = {
    {"en", "Hello, how are you today?",
     "The next train to the airport leaves from platform four in about twelve minutes.",
     "Thank you for calling the support line. All of our agents are helping other customers at the moment. "
     "Please stay on the line, or leave a short message after the tone and we will call you back within the "
     "hour. You can also find answers to the most common questions on our website."},
    {"de", "Guten Morgen, wie geht es Ihnen?",
     "Der nächste Zug zum Flughafen fährt in etwa zwölf Minuten von Gleis vier ab.",
     "Vielen Dank für Ihren Anruf. Im Moment sind alle unsere Mitarbeiter im Gespräch. Bitte bleiben Sie in "
     "der Leitung oder hinterlassen Sie nach dem Signalton eine kurze Nachricht, dann rufen wir Sie "
     "innerhalb "
     "einer Stunde zurück."},
    {"fr", "Bonjour, comment allez-vous ?",
     "Le prochain train pour l'aéroport part du quai quatre dans environ douze minutes.",
     "Merci de votre appel. Tous nos conseillers sont actuellement occupés. Veuillez rester en ligne, ou "
     "laissez un court message après le signal sonore et nous vous rappellerons dans l'heure."},
    {"es", "Hola, ¿cómo estás hoy?",
     "El próximo tren al aeropuerto sale del andén cuatro dentro de unos doce minutos.",
     "Gracias por llamar. En este momento todos nuestros agentes están ocupados. Por favor, permanezca en la "
     "línea o deje un breve mensaje después de la señal y le devolveremos la llamada en menos de una hora."},
    {"it", "Ciao, come stai oggi?",
     "Il prossimo treno per l'aeroporto parte dal binario quattro tra circa dodici minuti.",
     "Grazie per aver chiamato. Tutti i nostri operatori sono occupati in questo momento. Resti in linea "
     "oppure lasci un breve messaggio dopo il segnale acustico e la richiameremo entro un'ora."},
    {"pt", "Olá, como você está hoje?",
     "O próximo trem para o aeroporto parte da plataforma quatro em cerca de doze minutos.",
     "Obrigado por ligar. Todos os nossos atendentes estão ocupados no momento. Por favor, aguarde na linha "
     "ou "
     "deixe uma mensagem curta após o sinal e retornaremos a ligação em até uma hora."},
};

const Sentences* sentences_for(const std::string& language) {
  for (const auto& entry : kSentences) {
    if (language == entry.language) return &entry;
  }
  return nullptr;
}

// The languages a model's cases use: those of kSentences it speaks, in kSentences' order. A model that
// lists none speaks English as far as the workload is concerned.
std::vector<std::string> languages_of(const json& model, size_t limit) {
  std::set<std::string> spoken;
  if (auto languages = model.find("languages"); languages != model.end() && languages->is_array()) {
    for (const auto& language : *languages) {
      if (language.is_string()) spoken.insert(language.get<std::string>());
    }
  }
  std::vector<std::string> chosen;
  for (const auto& entry : kSentences) {
    if (chosen.size() >= limit) break;
    if (spoken.empty() ? std::string(entry.language) == "en" : spoken.count(entry.language) != 0) {
      chosen.emplace_back(entry.language);
    }
  }
  return chosen;
}

json distribution(const std::vector<double>& values) {
  if (values.empty()) return nullptr;
  const double sum = std::accumulate(values.begin(), values.end(), 0.0);
  return {{"p50", *percentile(values, 50)},
          {"p90", *percentile(values, 90)},
          {"p99", *percentile(values, 99)},
          {"mean", sum / static_cast<double>(values.size())},
          {"max", *std::max_element(values.begin(), values.end())}};
}

// The models in the order their first job appears, so that tables and charts follow the workload.
std::vector<std::string> models_in_order(const std::vector<JobOutcome>& outcomes) {
  std::vector<std::string> order;
  for (const auto& outcome : outcomes) {
    if (std::find(order.begin(), order.end(), outcome.job.model) == order.end())
      order.push_back(outcome.job.model);
  }
  return order;
}

json model_summary(const std::vector<const JobOutcome*>& jobs) {
  std::vector<double> latency, first_audio, rtf;
  std::map<std::string, int> failures;
  int succeeded = 0;
  double output_s = 0;
  double first_submit = 1e300, last_done = 0;
  for (const JobOutcome* outcome : jobs) {
    first_submit = std::min(first_submit, outcome->submitted_s);
    if (outcome->latency_ms)
      last_done = std::max(last_done, outcome->submitted_s + *outcome->latency_ms / 1000.0);
    if (outcome->state != "succeeded") {
      ++failures[outcome->error_code.empty() ? (outcome->state.empty() ? "no_answer" : outcome->state)
                                             : outcome->error_code];
      continue;
    }
    ++succeeded;
    if (outcome->latency_ms) latency.push_back(*outcome->latency_ms);
    if (outcome->first_audio_ms) first_audio.push_back(*outcome->first_audio_ms);
    if (outcome->duration_s > 0) {
      rtf.push_back(outcome->generation_ms / (outcome->duration_s * 1000.0));
      output_s += outcome->duration_s;
    }
  }
  const double span_s = last_done > first_submit ? last_done - first_submit : 0;
  json rtf_summary = nullptr;
  if (!rtf.empty()) {
    rtf_summary = {{"p50", *percentile(rtf, 50)},
                   {"mean", std::accumulate(rtf.begin(), rtf.end(), 0.0) / static_cast<double>(rtf.size())}};
  }
  return {{"kind", jobs.front()->job.kind},
          {"jobs", jobs.size()},
          {"succeeded", succeeded},
          {"failures", failures},
          {"latency_ms", distribution(latency)},
          {"first_audio_ms", distribution(first_audio)},
          {"rtf", rtf_summary},
          {"jobs_per_s", span_s > 0 ? succeeded / span_s : 0.0},
          {"output_s_per_s", span_s > 0 ? output_s / span_s : 0.0}};
}

std::string xml_escape(const std::string& text) {
  std::string out;
  for (char c : text) {
    switch (c) {
      case '<':
        out += "&lt;";
        break;
      case '>':
        out += "&gt;";
        break;
      case '&':
        out += "&amp;";
        break;
      case '"':
        out += "&quot;";
        break;
      default:
        out += c;
    }
  }
  return out;
}

// A round step for an axis of `span` with about five ticks: 1, 2 or 5 times a power of ten.
double tick_step(double span) {
  if (span <= 0) return 1;
  const double raw = span / 5;
  const double power = std::pow(10.0, std::floor(std::log10(raw)));
  for (double factor : {1.0, 2.0, 5.0}) {
    if (raw <= factor * power) return factor * power;
  }
  return 10 * power;
}

}  // namespace

std::vector<EvaluationCase> standard_workload(const json& models_answer, const WorkloadOptions& options,
                                              std::vector<std::string>* skipped) {
  std::vector<EvaluationCase> cases;
  auto skip = [skipped](std::string why) {
    if (skipped != nullptr) skipped->push_back(std::move(why));
  };
  const json* models =
      models_answer.is_object() && models_answer.contains("models") ? &models_answer["models"] : nullptr;
  if (models == nullptr || !models->is_array()) return cases;
  std::set<std::string> served;
  for (const auto& model : *models) {
    if (model.is_object() && model.value("workers", 0) > 0) served.insert(model.value("name", ""));
  }
  for (const auto& wanted : options.models) {
    if (served.count(wanted) == 0) skip(wanted + ": no worker serves it");
  }
  std::vector<EvaluationCase> one_round;
  for (const auto& model : *models) {
    if (!model.is_object()) continue;
    const std::string name = model.value("name", "");
    if (served.count(name) == 0) continue;
    if (!options.models.empty() &&
        std::find(options.models.begin(), options.models.end(), name) == options.models.end()) {
      continue;
    }
    const std::string kind = model.value("kind", "");
    const auto languages = languages_of(model, std::max<size_t>(1, options.languages_per_model));
    if (kind == "tts") {
      for (const auto& language : languages) {
        const Sentences* text = sentences_for(language);
        for (const auto& [length, sentence] :
             {std::pair{"short", text->short_text}, std::pair{"medium", text->medium_text},
              std::pair{"long", text->long_text}}) {
          one_round.push_back({language + "-" + length, name, "tts", language, sentence, false, false});
        }
      }
      if (model.value("cloning", false)) {
        if (!options.have_reference_voice) {
          skip(name + ": cloning cases need a reference voice (--speaker-wav, or a first speech result)");
        } else {
          const std::string& language = languages.front();
          one_round.push_back({"clone-" + language + "-medium", name, "tts", language,
                               sentences_for(language)->medium_text, false, true});
        }
      }
    } else if (kind == "video") {
      if (!options.have_portrait) {
        skip(name + ": text-to-video cases need a portrait (--image)");
        continue;
      }
      one_round.push_back(
          {"video-en-short", name, "video", "en", sentences_for("en")->short_text, false, false});
    }
  }
  for (int round = 0; round < std::max(1, options.rounds); ++round) {
    for (EvaluationCase job : one_round) {
      // Every other round reads speech as a stream, for the time to first audio.
      job.stream = job.kind == "tts" && round % 2 == 1;
      cases.push_back(std::move(job));
    }
  }
  return cases;
}

std::optional<double> percentile(std::vector<double> values, double p) {
  if (values.empty()) return std::nullopt;
  std::sort(values.begin(), values.end());
  const double rank = std::ceil(std::clamp(p, 0.0, 100.0) / 100.0 * static_cast<double>(values.size()));
  const size_t index = rank < 1 ? 0 : static_cast<size_t>(rank) - 1;
  return values[std::min(index, values.size() - 1)];
}

size_t EvaluationReport::failures() const {
  return static_cast<size_t>(std::count_if(outcomes_.begin(), outcomes_.end(), [](const JobOutcome& outcome) {
    return outcome.state != "succeeded";
  }));
}

json EvaluationReport::summary(const RunInfo& run) const {
  json models = json::object();
  for (const auto& name : models_in_order(outcomes_)) {
    std::vector<const JobOutcome*> jobs;
    for (const auto& outcome : outcomes_) {
      if (outcome.job.model == name) jobs.push_back(&outcome);
    }
    models[name] = model_summary(jobs);
  }
  json jobs = json::array();
  for (const auto& outcome : outcomes_) {
    json entry{{"case", outcome.job.name},
               {"model", outcome.job.model},
               {"kind", outcome.job.kind},
               {"language", outcome.job.language},
               {"text_chars", outcome.job.text.size()},
               {"stream", outcome.job.stream},
               {"clone", outcome.job.clone},
               {"submitted_s", outcome.submitted_s},
               {"state", outcome.state},
               {"latency_ms", outcome.latency_ms ? json(*outcome.latency_ms) : json(nullptr)},
               {"first_audio_ms", outcome.first_audio_ms ? json(*outcome.first_audio_ms) : json(nullptr)},
               {"duration_s", outcome.duration_s},
               {"generation_ms", outcome.generation_ms}};
    if (!outcome.error_code.empty()) entry["error_code"] = outcome.error_code;
    jobs.push_back(std::move(entry));
  }
  return {{"report", "gpufleet evaluate"},
          {"started_at", run.started_at},
          {"gateway", run.gateway},
          {"concurrency", run.concurrency},
          {"rounds", run.rounds},
          {"wall_s", run.wall_s},
          {"fleet", run.fleet},
          {"skipped", run.skipped},
          {"jobs_total", outcomes_.size()},
          {"failures_total", failures()},
          {"models", models},
          {"jobs", jobs}};
}

std::string EvaluationReport::table() const {
  const json all = summary(RunInfo{})["models"];
  std::ostringstream out;
  out << pad("model", 14) << pad("kind", 6) << pad("jobs", 6) << pad("failed", 8) << pad("p50 ms", 9)
      << pad("p90 ms", 9) << pad("p99 ms", 9) << pad("1st audio", 11) << pad("RTF", 7) << "jobs/s\n";
  for (const auto& [name, model] : all.items()) {
    auto ms = [](const json& value, const char* key) {
      return value.is_object() ? fixed(value[key].get<double>(), 0) : std::string("-");
    };
    const int failed = model["jobs"].get<int>() - model["succeeded"].get<int>();
    out << pad(name, 14) << pad(model["kind"].get<std::string>(), 6)
        << pad(std::to_string(model["jobs"].get<int>()), 6) << pad(std::to_string(failed), 8)
        << pad(ms(model["latency_ms"], "p50"), 9) << pad(ms(model["latency_ms"], "p90"), 9)
        << pad(ms(model["latency_ms"], "p99"), 9) << pad(ms(model["first_audio_ms"], "p50"), 11)
        << pad(model["rtf"].is_object() ? fixed(model["rtf"]["p50"].get<double>(), 3) : "-", 7)
        << fixed(model["jobs_per_s"].get<double>(), 2) << "\n";
    for (const auto& [code, count] : model["failures"].items()) {
      out << "  " << count.get<int>() << " failed: " << code << "\n";
    }
  }
  out << "latency: submit until the final state was seen; 1st audio: p50 of streamed jobs; RTF: p50 of "
         "generation time / output duration\n";
  return out.str();
}

std::string EvaluationReport::latency_svg() const {
  constexpr double kWidth = 760, kHeight = 380, kLeft = 70, kRight = 150, kTop = 30, kBottom = 50;
  const double plot_w = kWidth - kLeft - kRight, plot_h = kHeight - kTop - kBottom;
  double max_t = 0, max_ms = 0;
  for (const auto& outcome : outcomes_) {
    if (!outcome.latency_ms) continue;
    max_t = std::max(max_t, outcome.submitted_s + *outcome.latency_ms / 1000.0);
    max_ms = std::max(max_ms, *outcome.latency_ms);
  }
  const double t_step = tick_step(max_t), ms_step = tick_step(max_ms);
  const double t_top = std::max(t_step, std::ceil(max_t / t_step) * t_step);
  const double ms_top = std::max(ms_step, std::ceil(max_ms / ms_step) * ms_step);
  auto x = [&](double t) { return kLeft + t / t_top * plot_w; };
  auto y = [&](double ms) { return kTop + plot_h - ms / ms_top * plot_h; };
  static const char* kColours[] = {"#1f77b4", "#d62728", "#2ca02c", "#ff7f0e",
                                   "#9467bd", "#8c564b", "#e377c2", "#17becf"};

  std::ostringstream svg;
  svg << R"(<svg xmlns="http://www.w3.org/2000/svg" width=")" << kWidth << R"(" height=")" << kHeight
      << R"(" font-family="sans-serif" font-size="12">)"
      << "\n"
      << R"(<rect width="100%" height="100%" fill="white"/>)"
      << "\n"
      << R"(<text x=")" << kLeft
      << R"(" y="18" font-size="14">gpufleet evaluate: latency of each job over the run</text>)"
      << "\n";
  // Gridlines counted in whole steps: a float sum of steps drifts.
  for (int step = 0; step * t_step <= t_top + 1e-9; ++step) {
    const double t = step * t_step;
    svg << R"(<line x1=")" << fixed(x(t), 1) << R"(" y1=")" << kTop << R"(" x2=")" << fixed(x(t), 1)
        << R"(" y2=")" << kTop + plot_h << R"(" stroke="#eee"/>)"
        << R"(<text x=")" << fixed(x(t), 1) << R"(" y=")" << kTop + plot_h + 16
        << R"(" text-anchor="middle">)" << fixed(t, t_step < 1 ? 1 : 0) << "</text>\n";
  }
  for (int step = 0; step * ms_step <= ms_top + 1e-9; ++step) {
    const double ms = step * ms_step;
    svg << R"(<line x1=")" << kLeft << R"(" y1=")" << fixed(y(ms), 1) << R"(" x2=")" << kLeft + plot_w
        << R"(" y2=")" << fixed(y(ms), 1) << R"(" stroke="#eee"/>)"
        << R"(<text x=")" << kLeft - 6 << R"(" y=")" << fixed(y(ms) + 4, 1) << R"(" text-anchor="end">)"
        << fixed(ms, 0) << "</text>\n";
  }
  svg << R"(<rect x=")" << kLeft << R"(" y=")" << kTop << R"(" width=")" << plot_w << R"(" height=")"
      << plot_h << R"(" fill="none" stroke="#888"/>)"
      << "\n"
      << R"(<text x=")" << kLeft + plot_w / 2 << R"(" y=")" << kHeight - 12
      << R"(" text-anchor="middle">seconds since the run began (job done)</text>)"
      << "\n"
      << R"(<text x="16" y=")" << kTop + plot_h / 2 << R"(" transform="rotate(-90 16 )" << kTop + plot_h / 2
      << ")\" text-anchor=\"middle\">latency, submit to done (ms)</text>\n";
  const auto models = models_in_order(outcomes_);
  for (size_t m = 0; m < models.size(); ++m) {
    const char* colour = kColours[m % (sizeof(kColours) / sizeof(kColours[0]))];
    svg << R"(<g class="model" data-model=")" << xml_escape(models[m]) << R"(" fill=")" << colour
        << R"(" stroke=")" << colour << R"(">)"
        << "\n";
    for (const auto& outcome : outcomes_) {
      if (outcome.job.model != models[m] || !outcome.latency_ms) continue;
      const double cx = x(outcome.submitted_s + *outcome.latency_ms / 1000.0), cy = y(*outcome.latency_ms);
      if (outcome.state == "succeeded") {
        svg << R"(<circle class="job" cx=")" << fixed(cx, 1) << R"(" cy=")" << fixed(cy, 1) << R"(" r="3"/>)"
            << "\n";
      } else {
        svg << R"(<path class="failed" d="M)" << fixed(cx - 4, 1) << " " << fixed(cy - 4, 1)
            << " l8 8 m0 -8 l-8 8"
            << R"(" stroke-width="2"/>)"
            << "\n";
      }
    }
    const double legend_y = kTop + 10 + static_cast<double>(m) * 18;
    svg << R"(<circle cx=")" << kLeft + plot_w + 16 << R"(" cy=")" << legend_y << R"(" r="4"/>)"
        << R"(<text x=")" << kLeft + plot_w + 26 << R"(" y=")" << legend_y + 4
        << R"(" stroke="none" fill="black">)" << xml_escape(models[m]) << "</text>\n</g>\n";
  }
  svg << "</svg>\n";
  return svg.str();
}

}  // namespace gpufleet::cli
