"""Writes an XTTS-v2 speakers file (speakers_xtts.pth, upstream's layout) for a test model folder.

    make_xtts_speakers.py MODEL_DIR OUT.pth NAME [NAME ...]

Each name gets random conditioning of the shapes MODEL_DIR's weights produce: gpt_cond_latent
[1, latents, width] from gpt.conditioning_perceiver.latents and speaker_embedding [1, d_vector, 1] from
hifigan_decoder.speaker_encoder.fc.weight, read from the model.safetensors header (no safetensors package
needed). Upstream saves {name: {"gpt_cond_latent": t, "speaker_embedding": t}} with torch.save.
"""
import json
import struct
import sys

import torch


def shapes(model_dir):
    with open(f"{model_dir}/model.safetensors", "rb") as f:
        (length,) = struct.unpack("<Q", f.read(8))
        header = json.loads(f.read(length))
    return (header["gpt.conditioning_perceiver.latents"]["shape"],
            header["hifigan_decoder.speaker_encoder.fc.weight"]["shape"])


def main():
    model_dir, out, names = sys.argv[1], sys.argv[2], sys.argv[3:]
    latents, speaker_fc = shapes(model_dir)
    torch.manual_seed(5)
    speakers = {}
    for name in names:
        embedding = torch.nn.functional.normalize(torch.randn(1, speaker_fc[0]), dim=1).unsqueeze(-1)
        speakers[name] = {"gpt_cond_latent": torch.randn(1, latents[0], latents[1]), "speaker_embedding": embedding}
    torch.save(speakers, out)


if __name__ == "__main__":
    main()
