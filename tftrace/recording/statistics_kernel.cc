// TftraceStatistics: the statistics tftrace records of a float value (min and max over
// the values that are not NaN, the sum of the finite values, the NaN, +Inf and -Inf
// counts) in one pass over the data. Built by tftrace/recording/statistics_kernel.py.
//
// Output (float64): [min, max, sum of finite values, NaN count, +Inf count, -Inf count]
// and, with with_shape, the rank and the dimensions. No value that is not NaN: min +Inf,
// max -Inf (the counts tell).
//
// Per block of 65536 elements, a fast pass: min, max and the plain sum in vector lanes.
// A finite sum means no NaN and no infinity in the block (either makes it NaN or
// infinite), so the fast pass is exact then; otherwise an exact pass counts them and
// sums the finite values (in float64 if they overflow float32).
//
// Deterministic: the blocks are the same whatever the threads; each is reduced alone and
// the blocks are combined in order, so the result never depends on which thread ran
// which block. Sums: in float32 lanes within a block for float32 and narrower values
// (float64 for float64), the blocks' sums in float64.

#include <cmath>
#include <cstdint>
#include <cstring>
#include <type_traits>
#include <limits>
#include <vector>

#include "tensorflow/core/framework/op.h"
#include "tensorflow/core/framework/op_kernel.h"
#include "tensorflow/core/framework/shape_inference.h"
#include "tensorflow/core/util/work_sharder.h"

namespace tftrace {

using tensorflow::DEVICE_CPU;
using tensorflow::OpKernel;
using tensorflow::OpKernelConstruction;
using tensorflow::OpKernelContext;
using tensorflow::Tensor;
using tensorflow::TensorShape;

constexpr int64_t kBlock = 1 << 16;  // elements per block (the unit of the fixed split)
constexpr int kLanes = 16;  // of the exact pass

// The fast pass's vectors: 32 bytes with AVX, else 16 (never wider than the machine's).
#ifdef __AVX__
constexpr int kBytes = 32;
#else
constexpr int kBytes = 16;
#endif
constexpr int kVectors = 64 / kBytes;  // 64 bytes of independent accumulators

template <typename A>
struct Vector {
  typedef A type __attribute__((vector_size(kBytes)));
};

struct Partial {
  double low = std::numeric_limits<double>::infinity();
  double high = -std::numeric_limits<double>::infinity();
  double total = 0.0;
  int64_t nan = 0, positive_inf = 0, negative_inf = 0;
};

// The fast pass: min, max and the plain sum, in A. Exact when the sum is finite: a NaN or
// an infinity makes it NaN or infinite, so a finite sum means there is none.
template <typename T, typename A>
Partial Fast(const T* x, int64_t n) {
  typedef typename Vector<A>::type V;
  constexpr int kWidth = kBytes / sizeof(A);
  constexpr int kStep = kWidth * kVectors;
  const A inf = std::numeric_limits<A>::infinity();
  V low[kVectors], high[kVectors], total[kVectors];
  for (int k = 0; k < kVectors; ++k) {
    low[k] = V{} + inf;
    high[k] = V{} - inf;
    total[k] = V{};
  }
  int64_t i = 0;
  for (; i + kStep <= n; i += kStep) {
    for (int k = 0; k < kVectors; ++k) {
      V v;
      if constexpr (std::is_same<T, A>::value) {
        std::memcpy(&v, x + i + k * kWidth, sizeof(V));
      } else {
        A widened[kWidth];
        for (int j = 0; j < kWidth; ++j) widened[j] = static_cast<A>(x[i + k * kWidth + j]);
        std::memcpy(&v, widened, sizeof(V));
      }
      low[k] = v < low[k] ? v : low[k];
      high[k] = v > high[k] ? v : high[k];
      total[k] += v;
    }
  }
  A tail = 0;
  Partial out;
  for (; i < n; ++i) {
    const A v = static_cast<A>(x[i]);
    out.low = v < out.low ? v : out.low;
    out.high = v > out.high ? v : out.high;
    tail += v;
  }
  A sum = tail;  // the lanes in order, in A (an overflow shows as in a plain A sum)
  for (int k = 0; k < kVectors; ++k) {
    for (int j = 0; j < kWidth; ++j) {
      const double lo = low[k][j], hi = high[k][j];
      out.low = lo < out.low ? lo : out.low;
      out.high = hi > out.high ? hi : out.high;
      sum += total[k][j];
    }
  }
  out.total = sum;
  return out;
}

// The exact pass (a block whose fast sum is not finite): min and max over the values that
// are not NaN, the sum of the finite values in S, the counts.
template <typename T, typename A, typename S>
Partial Exact(const T* x, int64_t n) {
  const A inf = std::numeric_limits<A>::infinity();
  A low[kLanes], high[kLanes];
  S total[kLanes];
  int64_t nan[kLanes], pinf[kLanes], ninf[kLanes];
  for (int l = 0; l < kLanes; ++l) {
    low[l] = inf;
    high[l] = -inf;
    total[l] = 0;
    nan[l] = pinf[l] = ninf[l] = 0;
  }
  for (int64_t i = 0; i < n; ++i) {
    const int l = static_cast<int>(i % kLanes);
    const A v = static_cast<A>(x[i]);
    low[l] = v < low[l] ? v : low[l];  // NaN compares false: never taken
    high[l] = v > high[l] ? v : high[l];
    const bool finite = (v - v) == A(0);  // NaN for NaN and +-Inf
    total[l] += finite ? static_cast<S>(v) : S(0);
    nan[l] += v != v;
    pinf[l] += v == inf;
    ninf[l] += v == -inf;
  }
  Partial out;
  for (int l = 0; l < kLanes; ++l) {
    const double lo = low[l], hi = high[l];
    out.low = lo < out.low ? lo : out.low;
    out.high = hi > out.high ? hi : out.high;
    out.total += static_cast<double>(total[l]);
    out.nan += nan[l];
    out.positive_inf += pinf[l];
    out.negative_inf += ninf[l];
  }
  return out;
}

template <typename T, typename A>
Partial Block(const T* x, int64_t n) {
  Partial out = Fast<T, A>(x, n);
  if (std::isfinite(out.total)) return out;
  out = Exact<T, A, A>(x, n);
  if (!std::isfinite(out.total)) {
    // The finite values overflowed the A sum: sum them in float64.
    out.total = Exact<T, A, double>(x, n).total;
  }
  return out;
}

template <typename T, typename A>
class StatisticsOp : public OpKernel {
 public:
  explicit StatisticsOp(OpKernelConstruction* context) : OpKernel(context) {
    OP_REQUIRES_OK(context, context->GetAttr("with_shape", &with_shape_));
  }

  void Compute(OpKernelContext* context) override {
    const Tensor& input = context->input(0);
    const TensorShape& shape = input.shape();
    const int64_t size = input.NumElements();
    const int64_t extra = with_shape_ ? 1 + shape.dims() : 0;
    Tensor* output = nullptr;
    OP_REQUIRES_OK(context, context->allocate_output(0, TensorShape({6 + extra}), &output));
    const T* x = input.flat<T>().data();
    const int64_t blocks = (size + kBlock - 1) / kBlock;
    Partial all;
    if (blocks <= 1) {
      all = Block<T, A>(x, size);
    } else {
      std::vector<Partial> partials(blocks);
      auto work = [&](int64_t first, int64_t last) {
        for (int64_t b = first; b < last; ++b) {
          const int64_t begin = b * kBlock;
          const int64_t n = std::min(kBlock, size - begin);
          partials[b] = Block<T, A>(x + begin, n);
        }
      };
      auto* workers = context->device()->tensorflow_cpu_worker_threads();
      tensorflow::Shard(workers->num_threads, workers->workers, blocks, kBlock * 4, work);
      for (const Partial& p : partials) {  // in block order: the same sum whatever ran it
        all.low = p.low < all.low ? p.low : all.low;
        all.high = p.high > all.high ? p.high : all.high;
        all.total += p.total;
        all.nan += p.nan;
        all.positive_inf += p.positive_inf;
        all.negative_inf += p.negative_inf;
      }
    }
    auto out = output->flat<double>();
    out(0) = all.low;
    out(1) = all.high;
    out(2) = all.total;
    out(3) = static_cast<double>(all.nan);
    out(4) = static_cast<double>(all.positive_inf);
    out(5) = static_cast<double>(all.negative_inf);
    if (with_shape_) {
      out(6) = shape.dims();
      for (int d = 0; d < shape.dims(); ++d) out(7 + d) = static_cast<double>(shape.dim_size(d));
    }
  }

 private:
  bool with_shape_ = false;
};

}  // namespace tftrace

REGISTER_OP("TftraceStatistics")
    .Input("value: T")
    .Output("statistics: float64")
    .Attr("T: {half, bfloat16, float, double}")
    .Attr("with_shape: bool = false")
    .SetShapeFn([](tensorflow::shape_inference::InferenceContext* c) {
      bool with_shape = false;
      TF_RETURN_IF_ERROR(c->GetAttr("with_shape", &with_shape));
      c->set_output(0, with_shape ? c->Vector(c->UnknownDim()) : c->Vector(6));
      return absl::OkStatus();
    })
    .Doc("tftrace's statistics of a value in one pass (tftrace/recording/summaries.py).");

namespace tftrace {
using HalfStatistics = StatisticsOp<Eigen::half, float>;
using BfloatStatistics = StatisticsOp<Eigen::bfloat16, float>;
using FloatStatistics = StatisticsOp<float, float>;
using DoubleStatistics = StatisticsOp<double, double>;
}  // namespace tftrace

#define TFTRACE_REGISTER(T, KERNEL)                                                  \
  REGISTER_KERNEL_BUILDER(                                                          \
      Name("TftraceStatistics").Device(tensorflow::DEVICE_CPU).TypeConstraint<T>("T"), \
      tftrace::KERNEL)

TFTRACE_REGISTER(Eigen::half, HalfStatistics);
TFTRACE_REGISTER(Eigen::bfloat16, BfloatStatistics);
TFTRACE_REGISTER(float, FloatStatistics);
TFTRACE_REGISTER(double, DoubleStatistics);
