#pragma once
// Where the face is in every frame of a video to lip-sync, from the detections of some of its frames: the
// Haar cascades jitter by a few pixels and miss a face now and then (a turned head, motion blur), so each
// detection is averaged with its neighbours, short gaps between two detections of the same face are filled
// by interpolation, and frames far from any detection get no face (they pass through untouched). Plain
// numbers in, plain numbers out: tested without images.

#include <cstddef>
#include <optional>
#include <vector>

#include "models/video/portrait.hpp"

namespace gpufleet::video {

struct TrackOptions {
  size_t max_gap = 10;       // frames without a detection that may lie between two detections and be filled
  size_t hold = 2;           // frames before the first and after the last detection of a run that keep it
  size_t smooth_radius = 2;  // detections are averaged with those at most this many frames away
};

// One entry per frame: the face to move, or nullopt. `detected` has one entry per frame too (nullopt where
// nothing was found or the frame was not searched).
std::vector<std::optional<FaceLayout>> track_faces(const std::vector<std::optional<FaceLayout>>& detected,
                                                   const TrackOptions& options);

// How far apart two layouts are: the largest shift of the face box's corners, in face widths.
float layout_distance(const FaceLayout& a, const FaceLayout& b);

}  // namespace gpufleet::video
