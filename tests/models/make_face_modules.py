#!/usr/bin/env python3
"""Builds small TorchScript face renderers with random weights, in the interfaces gpufleet's neural video
backends take (docs/video.md, "GPU backends"). No weights are downloaded: the modules prove loading, shapes,
batching by frames, devices and the paste-back, not a real face.

LivePortrait family (OUT_DIR/liveportrait/), crop S x S RGB in [0, 1], K keypoints:
    appearance_feature_extractor(image[1,3,S,S]) -> feature[1,C,D,H,W]
    motion_extractor(image[1,3,S,S]) -> (kp[1,K,3], pitch[1], yaw[1], roll[1] (degrees), t[1,3], exp[1,K,3], scale[1])
    warping_module(feature[B,C,D,H,W], kp_source[B,K,3], kp_driving[B,K,3]) -> warped[B,C2,H,W]
        (a dense 3-D flow from the keypoints' displacements, applied with 5-D grid_sample, as upstream)
    spade_generator(warped[B,C2,H,W]) -> image[B,3,S,S] in [0, 1]
    stitching(kp_source ++ kp_driving [B,2*K*3]) -> [B,K*3+2]
    lip_retargeting(kp_source ++ lip ratios [B,K*3+2]) -> [B,K*3]
    eye_retargeting(kp_source ++ eye ratios [B,K*3+3]) -> [B,K*3]
Wav2Lip (OUT_DIR/wav2lip/wav2lip.pt), crop 96 x 96 BGR in [0, 1]:
    forward(mel[B,1,80,16], faces[B,6,96,96]) -> image[B,3,96,96] in [0, 1]
    (faces: the crop with its lower half zeroed, then the crop; the output keeps the upper half of the crop
    and draws the lower half from the mel window, so the mouth changes with the audio)

    make_face_modules.py OUT_DIR [--crop 64] [--keypoints 6] [--seed 1]
"""

import argparse
import os

import torch
import torch.nn.functional as F
from torch import Tensor, nn


class Appearance(nn.Module):
    def __init__(self, channels: int, depth: int, side: int):
        super().__init__()
        self.channels, self.depth, self.side = channels, depth, side
        self.conv = nn.Conv2d(3, channels * depth, 3, padding=1)

    def forward(self, image: Tensor) -> Tensor:
        x = F.adaptive_avg_pool2d(torch.tanh(self.conv(image)), self.side)
        return x.view(image.shape[0], self.channels, self.depth, self.side, self.side)


class Motion(nn.Module):
    def __init__(self, keypoints: int):
        super().__init__()
        self.keypoints = keypoints
        self.conv = nn.Conv2d(3, 8, 5, stride=4, padding=2)
        self.head = nn.Linear(8, keypoints * 6 + 7)

    def forward(self, image: Tensor):
        x = self.head(F.adaptive_avg_pool2d(torch.relu(self.conv(image)), 1).flatten(1))
        k = self.keypoints * 3
        kp = torch.tanh(x[:, :k]).view(-1, self.keypoints, 3) * 0.6
        exp = torch.tanh(x[:, k:2 * k]).view(-1, self.keypoints, 3) * 0.05
        pitch = torch.tanh(x[:, 2 * k]) * 10.0
        yaw = torch.tanh(x[:, 2 * k + 1]) * 10.0
        roll = torch.tanh(x[:, 2 * k + 2]) * 10.0
        t = torch.tanh(x[:, 2 * k + 3:2 * k + 6]) * 0.05
        scale = 1.0 + 0.1 * torch.sigmoid(x[:, 2 * k + 6])
        return kp, pitch, yaw, roll, t, exp, scale


class Warping(nn.Module):
    def __init__(self, channels: int, depth: int, out_channels: int):
        super().__init__()
        self.mix = nn.Conv2d(channels * depth, out_channels, 3, padding=1)

    def forward(self, feature: Tensor, kp_source: Tensor, kp_driving: Tensor) -> Tensor:
        b, c, d, h, w = feature.shape
        zs = torch.linspace(-1.0, 1.0, d, device=feature.device, dtype=feature.dtype)
        ys = torch.linspace(-1.0, 1.0, h, device=feature.device, dtype=feature.dtype)
        xs = torch.linspace(-1.0, 1.0, w, device=feature.device, dtype=feature.dtype)
        grid_z, grid_y, grid_x = torch.meshgrid(zs, ys, xs, indexing="ij")
        identity = torch.stack([grid_x, grid_y, grid_z], dim=-1).view(1, d, h, w, 1, 3)
        # Each voxel moves with the keypoints near it (Gaussian weights around the driving keypoints).
        driving = kp_driving.view(b, 1, 1, 1, -1, 3)
        weights = torch.softmax(-((identity - driving) ** 2).sum(-1) / 0.1, dim=-1)  # [B,D,H,W,K]
        motion = (kp_source - kp_driving).view(b, 1, 1, 1, -1, 3)
        grid = identity.squeeze(4) + (weights.unsqueeze(-1) * motion).sum(4)
        warped = F.grid_sample(feature, grid, mode="bilinear", padding_mode="border", align_corners=False)
        return torch.tanh(self.mix(warped.view(b, c * d, h, w)))


class Generator(nn.Module):
    def __init__(self, channels: int, crop: int):
        super().__init__()
        self.crop = crop
        self.conv = nn.Conv2d(channels, 3, 3, padding=1)

    def forward(self, warped: Tensor) -> Tensor:
        x = F.interpolate(self.conv(warped), size=[self.crop, self.crop], mode="bilinear", align_corners=False)
        return torch.sigmoid(x * 3.0)


class Mlp(nn.Module):
    def __init__(self, inputs: int, outputs: int, gain: float):
        super().__init__()
        self.layer = nn.Linear(inputs, outputs)
        self.gain = gain

    def forward(self, x: Tensor) -> Tensor:
        return torch.tanh(self.layer(x)) * self.gain


class Wav2Lip(nn.Module):
    def __init__(self):
        super().__init__()
        self.audio = nn.Linear(80 * 16, 16)
        self.face = nn.Conv2d(6, 16, 3, padding=1)
        self.out = nn.Conv2d(16, 3, 3, padding=1)

    def forward(self, mel: Tensor, faces: Tensor) -> Tensor:
        audio = torch.tanh(self.audio(mel.flatten(1))).view(-1, 16, 1, 1)
        drawn = torch.sigmoid(self.out(torch.tanh(self.face(faces)) + 2.0 * audio))
        reference = faces[:, 3:]
        half = faces.shape[2] // 2
        return torch.cat([reference[:, :, :half], drawn[:, :, half:]], dim=2)


def save(module: nn.Module, path: str) -> None:
    module.eval()
    torch.jit.script(module).save(path)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("out_dir")
    parser.add_argument("--crop", type=int, default=64)
    parser.add_argument("--keypoints", type=int, default=6)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    torch.manual_seed(args.seed)
    channels, depth, side, warped_channels, k = 4, 4, 16, 8, args.keypoints
    lp = os.path.join(args.out_dir, "liveportrait")
    os.makedirs(lp, exist_ok=True)
    save(Appearance(channels, depth, side), os.path.join(lp, "appearance_feature_extractor.pt"))
    save(Motion(k), os.path.join(lp, "motion_extractor.pt"))
    save(Warping(channels, depth, warped_channels), os.path.join(lp, "warping_module.pt"))
    save(Generator(warped_channels, args.crop), os.path.join(lp, "spade_generator.pt"))
    save(Mlp(2 * k * 3, k * 3 + 2, 0.01), os.path.join(lp, "stitching.pt"))
    save(Mlp(k * 3 + 2, k * 3, 0.3), os.path.join(lp, "lip_retargeting.pt"))
    save(Mlp(k * 3 + 3, k * 3, 0.3), os.path.join(lp, "eye_retargeting.pt"))
    w2l = os.path.join(args.out_dir, "wav2lip")
    os.makedirs(w2l, exist_ok=True)
    save(Wav2Lip(), os.path.join(w2l, "wav2lip.pt"))


if __name__ == "__main__":
    main()
