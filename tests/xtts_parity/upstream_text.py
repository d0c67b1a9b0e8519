#!/usr/bin/env python3
"""Runs upstream XTTS-v2's text front end (coqui-tts, pinned in scripts/install-test-tools.sh) over the parity
corpus and writes what it makes of every sentence: the cleaned string (multilingual_cleaners), what is tokenised
(VoiceBpeTokenizer.preprocess_text: Korean romanised) and, given
a vocab.json, the token ids (VoiceBpeTokenizer.encode of the stripped, lower-cased text, as
Xtts.inference calls it), or the exception upstream raises.

usage: upstream_text.py CORPUS_DIR OUT_JSON [VOCAB_JSON]

The coqui-tts package's __init__ only checks that torch and torchaudio are importable, for the audio parts;
the text modules are loaded without it (its packages are set up as plain namespaces), so torchaudio is not
needed. torch itself is imported by the tokenizer module; the virtual environment sees Debian's."""
import json
import os
import pathlib
import sys
import sysconfig
import types


def load_upstream_tokenizer():
    site = pathlib.Path(sysconfig.get_paths()["purelib"])
    for name in ["TTS", "TTS.tts", "TTS.tts.layers", "TTS.tts.layers.xtts", "TTS.tts.utils", "TTS.tts.utils.text"]:
        module = types.ModuleType(name)
        module.__path__ = [str(site.joinpath(*name.split(".")))]
        sys.modules[name] = module
    from TTS.tts.layers.xtts import tokenizer  # noqa: E402

    return tokenizer


def main():
    if len(sys.argv) not in (3, 4):
        print(__doc__, file=sys.stderr)
        return 2
    corpus, out_path = pathlib.Path(sys.argv[1]), pathlib.Path(sys.argv[2])
    vocab = sys.argv[3] if len(sys.argv) == 4 and os.path.exists(sys.argv[3]) else None
    upstream = load_upstream_tokenizer()
    bpe = upstream.VoiceBpeTokenizer(vocab) if vocab else None
    text_front_end = upstream.VoiceBpeTokenizer()  # preprocess_text needs no vocabulary
    result = {"upstream": "coqui-tts " + __import__("importlib.metadata").metadata.version("coqui-tts"),
              "num2words": __import__("importlib.metadata").metadata.version("num2words"),
              "languages": {}}
    for path in sorted(corpus.glob("*.txt")):
        cases = []
        for line in path.read_text(encoding="utf-8").splitlines():
            case = {"text": line}
            try:
                case["cleaned"] = upstream.multilingual_cleaners(line, path.stem)
                case["preprocessed"] = text_front_end.preprocess_text(line, path.stem)
                if bpe is not None:
                    case["ids"] = bpe.encode(line.strip().lower(), path.stem)
            except Exception as error:  # what upstream raises is the expected outcome for this sentence
                case["error"] = type(error).__name__
            cases.append(case)
        result["languages"][path.stem] = cases
    out_path.write_text(json.dumps(result, ensure_ascii=False, indent=1), encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
