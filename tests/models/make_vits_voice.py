#!/usr/bin/env python3
"""Builds a VITS-shaped TorchScript voice with random weights, in the interface Piper's export gives:

    forward(ids[B,T] int64, lengths[B] int64, sid[B] int64, noise_scale[1], length_scale[1], noise_w[1])
        -> (audio[B,1,S], attn[B,F,T], y_mask[B,1,F])    with S = F * hop

and a Piper voice config beside it (audio.sample_rate, espeak.voice, inference.*, phoneme_id_map,
num_speakers). No weights are downloaded: the model proves loading, padding, batching, devices and the audio
path, not speech. Every stage is masked, so an item's audio does not depend on what it is batched with; that
is what lets the tests demand batched == unbatched.

    make_vits_voice.py OUT_DIR [--size tiny|medium] [--speakers N] [--seed S] [--sample-rate HZ] [--audio-only]
writes OUT_DIR/voice.pt and OUT_DIR/voice.json. --audio-only exports a module that answers the audio alone
(no frame mask), which can run one sequence at a time only.
"""

import argparse
import json
import os
from typing import List, Tuple

import torch
from torch import Tensor, nn

SIZES = {
    # hidden, encoder layers, decoder channels per stage, upsampling per stage (product = hop)
    "tiny": (32, 2, [32, 16], [8, 32]),
    # Piper "medium"-like compute: 192 hidden, 6 encoder layers, a HiFi-GAN-sized 512-channel decoder, hop 256.
    "medium": (192, 6, [512, 256, 128, 64], [8, 8, 2, 2]),
}


class AudioOnly(nn.Module):
    def __init__(self, inner: nn.Module):
        super().__init__()
        self.inner = inner

    def forward(self, x: Tensor, x_lengths: Tensor, sid: Tensor, noise_scale: Tensor, length_scale: Tensor,
                noise_w: Tensor) -> Tensor:
        return self.inner(x, x_lengths, sid, noise_scale, length_scale, noise_w)[0]


class Stage(nn.Module):
    def __init__(self, channels_in: int, channels_out: int, factor: int):
        super().__init__()
        self.factor = factor
        self.up = nn.ConvTranspose1d(channels_in, channels_out, 2 * factor, stride=factor, padding=factor // 2)
        self.res1 = nn.Conv1d(channels_out, channels_out, 3, padding=1)
        self.res2 = nn.Conv1d(channels_out, channels_out, 3, padding=1)

    def forward(self, x: Tensor, mask: Tensor) -> Tuple[Tensor, Tensor]:
        mask = torch.repeat_interleave(mask, self.factor, dim=2)
        x = self.up(torch.nn.functional.leaky_relu(x, 0.1)) * mask
        x = x + self.res2(torch.nn.functional.leaky_relu(self.res1(x) * mask, 0.1)) * mask
        return x, mask


class TinyVits(nn.Module):
    def __init__(self, n_vocab: int, hidden: int, layers: int, channels: List[int], factors: List[int],
                 n_speakers: int):
        super().__init__()
        self.n_speakers = n_speakers
        self.emb = nn.Embedding(n_vocab, hidden)
        self.encoder = nn.ModuleList([nn.Conv1d(hidden, hidden, 5, padding=2) for _ in range(layers)])
        self.duration = nn.Conv1d(hidden, 1, 1)
        self.speaker = nn.Embedding(max(n_speakers, 1), hidden)
        self.pre = nn.Conv1d(hidden, channels[0], 7, padding=3)
        stages = []
        for i, factor in enumerate(factors):
            out = channels[i + 1] if i + 1 < len(channels) else max(channels[-1] // 2, 8)
            stages.append(Stage(channels[i], out, factor))
        self.stages = nn.ModuleList(stages)
        self.post = nn.Conv1d(stages[-1].res2.out_channels, 1, 7, padding=3)
        with torch.no_grad():
            # Durations of one to four frames per id, like speech.
            self.duration.weight.mul_(0.1)
            self.duration.bias.fill_(0.7)

    def forward(self, x: Tensor, x_lengths: Tensor, sid: Tensor, noise_scale: Tensor, length_scale: Tensor,
                noise_w: Tensor) -> Tuple[Tensor, Tensor, Tensor]:
        t = x.size(1)
        x_mask = (torch.arange(t, device=x.device).unsqueeze(0) < x_lengths.unsqueeze(1)).unsqueeze(1).float()
        h = self.emb(x).transpose(1, 2) * x_mask
        if self.n_speakers > 1:
            h = h + self.speaker(sid).unsqueeze(-1) * x_mask
        for conv in self.encoder:
            h = h + torch.relu(conv(h)) * x_mask
        logw = self.duration(h) + noise_w * 0.0
        w = torch.ceil(torch.exp(logw) * x_mask * length_scale).squeeze(1)  # [B, T]
        y_lengths = torch.clamp_min(w.sum(1), 1).long()
        frames = int(y_lengths.max())
        y_mask = (torch.arange(frames, device=x.device).unsqueeze(0) < y_lengths.unsqueeze(1)).unsqueeze(1).float()
        ends = torch.cumsum(w, 1)
        starts = ends - w
        position = torch.arange(frames, device=x.device).float().view(1, frames, 1)
        attn = ((position >= starts.unsqueeze(1)) & (position < ends.unsqueeze(1))).float()  # [B, F, T]
        z = torch.bmm(attn, h.transpose(1, 2)).transpose(1, 2) * y_mask
        z = z + torch.randn_like(z) * noise_scale * y_mask
        y = self.pre(z) * y_mask
        mask = y_mask
        for stage in self.stages:
            y, mask = stage(y, mask)
        audio = torch.tanh(self.post(torch.nn.functional.leaky_relu(y, 0.1))) * mask
        return audio, attn, y_mask


def phoneme_symbols() -> List[str]:
    symbols = ["_", "^", "$", " ", "!", "'", "(", ")", ",", "-", ".", ":", ";", "?"]
    symbols += [chr(c) for c in range(ord("a"), ord("z") + 1)]
    symbols += [chr(c) for c in range(0x250, 0x300)]  # IPA extensions, spacing modifiers (stress, length)
    symbols += ["æ", "ç", "ð", "ø", "ħ", "ŋ", "œ", "θ", "χ", "ᵻ", "ⱱ", "\u0303", "\u0329", "\u032a"]
    return symbols


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("out_dir")
    parser.add_argument("--size", choices=sorted(SIZES), default="tiny")
    parser.add_argument("--speakers", type=int, default=1)
    parser.add_argument("--seed", type=int, default=1234)
    parser.add_argument("--sample-rate", type=int, default=22050)
    parser.add_argument("--audio-only", action="store_true")
    args = parser.parse_args()

    torch.manual_seed(args.seed)
    symbols = phoneme_symbols()
    hidden, layers, channels, factors = SIZES[args.size]
    model = TinyVits(len(symbols), hidden, layers, channels, factors, args.speakers).eval()
    scripted = torch.jit.script(AudioOnly(model) if args.audio_only else model)
    os.makedirs(args.out_dir, exist_ok=True)
    scripted.save(os.path.join(args.out_dir, "voice.pt"))

    config = {
        "audio": {"sample_rate": args.sample_rate},
        "espeak": {"voice": "en-us"},
        "inference": {"noise_scale": 0.0, "length_scale": 1.0, "noise_w": 0.0},
        "phoneme_type": "espeak",
        "phoneme_id_map": {symbol: [i] for i, symbol in enumerate(symbols)},
        "num_symbols": len(symbols),
        "num_speakers": args.speakers,
        "speaker_id_map": {f"speaker{i}": i for i in range(args.speakers)} if args.speakers > 1 else {},
        "gpufleet_test_model": {"size": args.size, "seed": args.seed,
                                "parameters": sum(p.numel() for p in model.parameters())},
    }
    with open(os.path.join(args.out_dir, "voice.json"), "w", encoding="utf-8") as out:
        json.dump(config, out, ensure_ascii=False, indent=1)


if __name__ == "__main__":
    main()
