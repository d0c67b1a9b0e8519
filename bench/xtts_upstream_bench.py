#!/usr/bin/env python3
"""Upstream XTTS-v2 (coqui-tts' own Xtts.inference) beside gpufleet's native engine, on one CPU, one checkpoint.

Builds a random-weight XTTS-v2 checkpoint at the released size (GPT-2 30 layers x 1024, 16 heads; HiFi-GAN 512;
the full speaker encoder) with the golden set's vocabulary, then synthesises the same text greedily with both:
upstream in this Python (its torch), the native engine through `gpufleet-xtts --greedy` (its LibTorch). The
generation cap makes both draw the same number of codes (random weights rarely stop on their own), and the script prints whether
the codes themselves are the same (greedy: they must be; a full-size parity check the golden set, being small,
cannot make). Timed: text to waveform, the voice
computed beforehand (upstream: `inference` with conditioning latents ready; native: the CLI's own figure,
which excludes loading and cloning). The CLI is one process per synthesis, so the like-for-like figure is the
first synthesis after loading for both; upstream's later calls are printed too. Prints one table; figures go in docs/xtts.md with the machine they came
from. Batches 4 and 16 of the native engine: `gpufleet-xtts-bench --batches 1,4,16` on random weights of the
same size.

Run with scripts/install-upstream-bench.sh's environment:
  .tools/upstream-bench/bin/python bench/xtts_upstream_bench.py --xtts build-torch2/bin/gpufleet-xtts
"""

import argparse
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

TEXT = "The quick brown fox jumps over the lazy dog, and then it runs far away into the woods."


def build_checkpoint(golden, folder, codes, seed):
    import torch
    from TTS.tts.configs.xtts_config import XttsConfig
    from TTS.tts.layers.xtts.tokenizer import VoiceBpeTokenizer
    from TTS.tts.models.xtts import Xtts

    with open(os.path.join(golden, "config.json")) as f:
        config_json = json.load(f)
    args = config_json["model_args"]
    # The released sizes (XttsArgs' defaults); the golden set shrinks these.
    args.update(gpt_layers=30, gpt_n_model_channels=1024, gpt_n_heads=16, decoder_input_dim=1024,
                gpt_max_audio_tokens=codes + 3)
    shutil.copy(os.path.join(golden, "vocab.json"), os.path.join(folder, "vocab.json"))
    args["tokenizer_file"] = os.path.join(folder, "vocab.json")
    with open(os.path.join(folder, "config.json"), "w") as f:
        json.dump(config_json, f)
    config = XttsConfig()
    config.load_json(os.path.join(folder, "config.json"))
    torch.manual_seed(seed)
    model = Xtts.init_from_config(config)
    model.tokenizer = VoiceBpeTokenizer(vocab_file=args["tokenizer_file"])
    model.init_models()  # upstream's own random initialisation, seeded
    torch.save({"model": model.state_dict()}, os.path.join(folder, "model.pth"))
    return config, sum(t.numel() for t in model.state_dict().values())


def run_upstream(folder, config, reference, runs):
    """The first synthesis after loading (as the native CLI's, which is a new process each run) and later ones."""
    import torch
    from TTS.tts.models.xtts import Xtts

    model = Xtts.init_from_config(config)
    model.load_checkpoint(config, checkpoint_dir=folder, eval=True)
    model.eval()
    # The config's reference settings, as upstream's own synthesize() passes them (the method's defaults differ).
    latent, embedding = model.get_conditioning_latents(
        audio_path=[reference],
        gpt_cond_len=config.gpt_cond_len,
        gpt_cond_chunk_len=config.gpt_cond_chunk_len,
        max_ref_length=config.max_ref_len,
        sound_norm_refs=config.sound_norm_refs,
    )
    drawn = {}
    generate = model.gpt.generate

    def keep_codes(*args, **kwargs):
        drawn["codes"] = generate(*args, **kwargs)
        return drawn["codes"]

    model.gpt.generate = keep_codes
    timings = []
    out = None
    for _ in range(runs + 1):
        started = time.perf_counter()
        out = model.inference(
            TEXT,
            "en",
            latent,
            embedding,
            do_sample=False,
            repetition_penalty=config.repetition_penalty,
            length_penalty=config.length_penalty,
        )
        timings.append(time.perf_counter() - started)
    audio_s = len(out["wav"]) / 24000
    return drawn["codes"][0].tolist(), audio_s, timings[0], statistics.median(timings[1:]), torch.__version__


def run_native(xtts, folder, reference, runs):
    """Median synthesis time over `runs` processes, and the codes drawn (from the first run's --dump)."""
    from safetensors.torch import load_file

    timings = []
    codes = audio_s = None
    for run in range(runs):
        with tempfile.TemporaryDirectory() as out:
            command = [xtts, "--model-dir", folder, "--text", TEXT, "--language", "en", "--speaker-wav", reference,
                       "--greedy", "--device", "cpu", "--out", os.path.join(out, "native.wav")]
            if run == 0:
                command += ["--dump", out]
            done = subprocess.run(command, capture_output=True, text=True, check=True)
            if run == 0:
                codes = load_file(os.path.join(out, "xtts_dump.safetensors"))["greedy.codes"].flatten().tolist()
        line = re.search(r": (\d+) codes, ([0-9.]+) s of audio in ([0-9.]+) s", done.stdout)
        if not line:
            sys.exit("gpufleet-xtts printed no timing line:\n" + done.stdout + done.stderr)
        audio_s = float(line.group(2))
        timings.append(float(line.group(3)))
    return codes, audio_s, statistics.median(timings)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--xtts", required=True, help="the gpufleet-xtts binary (LibTorch as close as can be to this torch)")
    parser.add_argument("--golden", default=os.path.join(os.path.dirname(__file__), "..", "..", "shared", "xtts-golden"))
    parser.add_argument("--codes", type=int, default=60, help="codes drawn by each engine (the generation cap)")
    parser.add_argument("--runs", type=int, default=2, help="runs per engine; the median is reported")
    parser.add_argument("--seed", type=int, default=1234)
    options = parser.parse_args()
    reference = os.path.join(options.golden, "inputs", "ref.wav")
    with tempfile.TemporaryDirectory() as folder:
        config, parameters = build_checkpoint(options.golden, folder, options.codes, options.seed)
        print(f"checkpoint: {parameters / 1e6:.0f}M parameters (random, released sizes), cap {options.codes} codes; "
              f"text: {len(TEXT)} characters; {os.cpu_count()} CPUs", flush=True)
        up_codes, up_audio, up_first, up_warm, torch_version = run_upstream(folder, config, reference, options.runs)
        native_codes, native_audio, native_first = run_native(options.xtts, folder, reference, options.runs)
    print()
    print("| engine | codes | audio s | synthesis s | RTF | codes/s |")
    print("|---|---|---|---|---|---|")

    def row(name, codes, audio_s, seconds):
        print(f"| {name} | {codes} | {audio_s:.2f} | {seconds:.2f} | {seconds / audio_s:.3f} | {codes / seconds:.1f} |")

    row(f"upstream coqui-tts `Xtts.inference` (torch {torch_version}), first after loading", len(up_codes), up_audio,
        up_first)
    row(f"gpufleet native engine (`{options.xtts}`), first after loading (median of {options.runs} processes)",
        len(native_codes), native_audio, native_first)
    row(f"upstream, later calls (median of {options.runs})", len(up_codes), up_audio, up_warm)
    print(f"\nnative / upstream, first synthesis after loading: {up_first / native_first:.2f}x as fast")
    differ = next((i for i, (a, b) in enumerate(zip(up_codes, native_codes)) if a != b), None)
    if differ is None and len(up_codes) == len(native_codes):
        print(f"codes: the same {len(up_codes)} from both engines")
    else:
        print(f"codes differ (first at {differ if differ is not None else min(len(up_codes), len(native_codes))}):"
              f"\n  upstream {up_codes}\n  native   {native_codes}")


if __name__ == "__main__":
    main()
