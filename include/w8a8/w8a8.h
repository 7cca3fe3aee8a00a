// Everything public in one include.
#pragma once

#include "w8a8/dispatch.h"
#include "w8a8/dtype.h"
#include "w8a8/error.h"
#include "w8a8/formats.h"
#include "w8a8/group_shape.h"
#include "w8a8/io.h"
#include "w8a8/checkpoint.h"
#include "w8a8/linear.h"
#include "w8a8/parallel.h"
#include "w8a8/platform.h"
#include "w8a8/quant.h"
#include "w8a8/scaled_mm.h"
#include "w8a8/tensor.h"
#include "w8a8/weights.h"
