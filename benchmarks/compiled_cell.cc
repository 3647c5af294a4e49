// The GRU and LSTM cells' element-wise work as one MXNet operator each, forward and a
// hand-written backward: an experiment for benchmarks/compiled_cell.py (issue #4), not part of
// jaylyrics, whose cells are MXNet operators differentiated by MXNet autograd (jaylyrics/model.py).
// Built with g++ against MXNet's lib_api.h and loaded with mx.library.load.
//
// Shapes: N batch, H hidden; xw and hw (N, G*H) are the input and recurrent projections with
// their biases, gate blocks side by side in MXNet's order (as model._gates splits them).
//
//   compiled_gru_cell(xw, hw, h) -> h'          r, z = sigmoid(x_r + h_r), sigmoid(x_z + h_z)
//                                               n = tanh(x_n + r * h_n);  h' = n + z * (h - n)
//   compiled_lstm_cell(xw, hw, c) -> (h', c')   i, f, o sigmoid and g tanh of xw + hw
//                                               c' = f * c + i * g;  h' = o * tanh(c')
//
// The backward recomputes the gates from the inputs (gru_gates, lstm_gates). Its inputs are MXNet's: the gradients of the
// outputs, then the inputs, then the outputs; its outputs the gradients of the inputs.

#include <cmath>

#include "lib_api.h"

using namespace mxnet::ext;
using Attrs = std::unordered_map<std::string, std::string>;

static inline float sigmoid(float x) { return 1.f / (1.f + std::exp(-x)); }
static inline float tanh_(float x) { return 2.f * sigmoid(2.f * x) - 1.f; }  // vectorises

// The gates of unit j, from the projections x and a of one row (G*H each): the forward pass
// computes them, the backward pass computes them again.
struct GruGates { float r, z, n; };
static inline GruGates gru_gates(const float* x, const float* a, int64_t H, int64_t j) {
  const float r = sigmoid(x[j] + a[j]), z = sigmoid(x[H + j] + a[H + j]);
  return {r, z, tanh_(x[2 * H + j] + r * a[2 * H + j])};
}

struct LstmGates { float i, f, g, o; };
static inline LstmGates lstm_gates(const float* x, const float* a, int64_t H, int64_t j) {
  return {sigmoid(x[j] + a[j]), sigmoid(x[H + j] + a[H + j]), tanh_(x[2 * H + j] + a[2 * H + j]),
          sigmoid(x[3 * H + j] + a[3 * H + j])};
}

MXReturnValue gru_forward(const Attrs&, std::vector<MXTensor>* in, std::vector<MXTensor>* out,
                          const OpResource&) {
  const float *xw = (*in)[0].data<float>(), *hw = (*in)[1].data<float>();
  const float* h = (*in)[2].data<float>();
  float* h_new = (*out)[0].data<float>();
  const int64_t N = (*in)[2].shape[0], H = (*in)[2].shape[1];
  for (int64_t b = 0; b < N; ++b) {
    const float *x = xw + b * 3 * H, *g = hw + b * 3 * H;
#pragma omp simd
    for (int64_t j = 0; j < H; ++j) {
      const GruGates q = gru_gates(x, g, H, j);
      h_new[b * H + j] = q.n + q.z * (h[b * H + j] - q.n);
    }
  }
  return MX_SUCCESS;
}

// inputs: dh', xw, hw, h, h'; outputs: dxw, dhw, dh
MXReturnValue gru_backward(const Attrs&, std::vector<MXTensor>* in, std::vector<MXTensor>* out,
                           const OpResource&) {
  const float* dh_new = (*in)[0].data<float>();
  const float *xw = (*in)[1].data<float>(), *hw = (*in)[2].data<float>();
  const float* h = (*in)[3].data<float>();
  float *dxw = (*out)[0].data<float>(), *dhw = (*out)[1].data<float>();
  float* dh = (*out)[2].data<float>();
  const int64_t N = (*in)[3].shape[0], H = (*in)[3].shape[1];
  for (int64_t b = 0; b < N; ++b) {
    const float *x = xw + b * 3 * H, *g = hw + b * 3 * H;
    float *dx = dxw + b * 3 * H, *dg = dhw + b * 3 * H;
#pragma omp simd
    for (int64_t j = 0; j < H; ++j) {
      const GruGates q = gru_gates(x, g, H, j);
      const float r = q.r, z = q.z, n = q.n;
      const float d = dh_new[b * H + j];
      dh[b * H + j] = d * z;
      const float da_n = d * (1.f - z) * (1.f - n * n);          // through n's tanh
      const float da_r = da_n * g[2 * H + j] * r * (1.f - r);    // through r's sigmoid
      const float da_z = d * (h[b * H + j] - n) * z * (1.f - z);
      dx[j] = dg[j] = da_r;
      dx[H + j] = dg[H + j] = da_z;
      dx[2 * H + j] = da_n;
      dg[2 * H + j] = da_n * r;
    }
  }
  return MX_SUCCESS;
}

MXReturnValue lstm_forward(const Attrs&, std::vector<MXTensor>* in, std::vector<MXTensor>* out,
                           const OpResource&) {
  const float *xw = (*in)[0].data<float>(), *hw = (*in)[1].data<float>();
  const float* c = (*in)[2].data<float>();
  float *h_new = (*out)[0].data<float>(), *c_new = (*out)[1].data<float>();
  const int64_t N = (*in)[2].shape[0], H = (*in)[2].shape[1];
  for (int64_t b = 0; b < N; ++b) {
    const float *x = xw + b * 4 * H, *a = hw + b * 4 * H;
#pragma omp simd
    for (int64_t j = 0; j < H; ++j) {
      const LstmGates q = lstm_gates(x, a, H, j);
      const float cn = q.f * c[b * H + j] + q.i * q.g;
      c_new[b * H + j] = cn;
      h_new[b * H + j] = q.o * tanh_(cn);
    }
  }
  return MX_SUCCESS;
}

// inputs: dh', dc', xw, hw, c, h', c'; outputs: dxw, dhw, dc
MXReturnValue lstm_backward(const Attrs&, std::vector<MXTensor>* in, std::vector<MXTensor>* out,
                            const OpResource&) {
  const float *dh_new = (*in)[0].data<float>(), *dc_new = (*in)[1].data<float>();
  const float *xw = (*in)[2].data<float>(), *hw = (*in)[3].data<float>();
  const float *c = (*in)[4].data<float>(), *c_new = (*in)[6].data<float>();
  float *dxw = (*out)[0].data<float>(), *dhw = (*out)[1].data<float>();
  float* dc = (*out)[2].data<float>();
  const int64_t N = (*in)[4].shape[0], H = (*in)[4].shape[1];
  for (int64_t b = 0; b < N; ++b) {
    const float *x = xw + b * 4 * H, *a = hw + b * 4 * H;
    float *dx = dxw + b * 4 * H, *da = dhw + b * 4 * H;
#pragma omp simd
    for (int64_t j = 0; j < H; ++j) {
      const LstmGates q = lstm_gates(x, a, H, j);
      const float i = q.i, f = q.f, g = q.g, o = q.o;
      const float tc = tanh_(c_new[b * H + j]);
      const float dcn = dc_new[b * H + j] + dh_new[b * H + j] * o * (1.f - tc * tc);
      dc[b * H + j] = dcn * f;
      dx[j] = da[j] = dcn * g * i * (1.f - i);
      dx[H + j] = da[H + j] = dcn * c[b * H + j] * f * (1.f - f);
      dx[2 * H + j] = da[2 * H + j] = dcn * i * (1.f - g * g);
      dx[3 * H + j] = da[3 * H + j] = dh_new[b * H + j] * tc * o * (1.f - o);
    }
  }
  return MX_SUCCESS;
}

MXReturnValue gru_arity(const Attrs&, int* num_in, int* num_out) {
  *num_in = 3;
  *num_out = 1;
  return MX_SUCCESS;
}

MXReturnValue lstm_arity(const Attrs&, int* num_in, int* num_out) {
  *num_in = 3;
  *num_out = 2;
  return MX_SUCCESS;
}

MXReturnValue float_like_input(const Attrs&, std::vector<int>* in_types,
                               std::vector<int>* out_types) {
  for (auto& t : *in_types)
    if (t != kFloat32) return MX_FAIL;
  for (auto& t : *out_types) t = kFloat32;
  return MX_SUCCESS;
}

MXReturnValue state_shaped(const Attrs&, std::vector<std::vector<unsigned int>>* in_shapes,
                           std::vector<std::vector<unsigned int>>* out_shapes) {
  for (auto& s : *out_shapes) s = (*in_shapes)[2];      // (N, H), as h or c
  return MX_SUCCESS;
}

REGISTER_OP(compiled_gru_cell)
    .setForward(gru_forward, "cpu")
    .setBackward(gru_backward, "cpu")
    .setParseAttrs(gru_arity)
    .setInferType(float_like_input)
    .setInferShape(state_shaped);

REGISTER_OP(compiled_lstm_cell)
    .setForward(lstm_forward, "cpu")
    .setBackward(lstm_backward, "cpu")
    .setParseAttrs(lstm_arity)
    .setInferType(float_like_input)
    .setInferShape(state_shaped);

MXReturnValue initialize(int version) { return version >= 10700 ? MX_SUCCESS : MX_FAIL; }
