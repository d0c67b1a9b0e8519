#pragma once
// The converters of number_words(), one per num2words language gpufleet has ported; each file
// models/xtts/numbers/<language>.cpp defines its own.

#include "models/xtts/numbers/number_words.hpp"

namespace gpufleet::xtts::numbers {

const NumberWords& italian();
const NumberWords& portuguese();
const NumberWords& polish();
const NumberWords& czech();
const NumberWords& hungarian();
const NumberWords& russian();
const NumberWords& arabic();
const NumberWords& turkish();
const NumberWords& korean();

}  // namespace gpufleet::xtts::numbers
