// The C API: a load/run round trip and its error reporting.
#include "TestUtil.h"

#include "tacrt/tacrt.h"

#include <cstring>

using namespace tacrt_test;
using ::testing::HasSubstr;

namespace {
/// Stores any int in a C enum field, as C code may; a C++ cast to the enum
/// of a value outside its enumerators would itself be undefined.
template <typename Enum> void storeCEnum(Enum &field, int value) {
  static_assert(sizeof(Enum) == sizeof(int), "C enums are ints");
  std::memcpy(&field, &value, sizeof value);
}
} // namespace

TEST(CApi, RoundTrip) {
  std::string path = writeModel(adaptiveModel());
  tac_model *model = nullptr;
  ASSERT_EQ(tac_model_load(path.c_str(), &model), TAC_OK) << tac_last_error();
  ASSERT_EQ(tac_model_num_inputs(model), 1u);
  EXPECT_STREQ(tac_model_input_name(model, 0), "x");
  EXPECT_EQ(tac_model_input_dtype(model, 0), TAC_F32);
  ASSERT_EQ(tac_model_input_rank(model, 0), 2u);
  EXPECT_EQ(tac_model_input_shape(model, 0)[1], 4);
  EXPECT_EQ(tac_model_input_byte_size(model, 0), 16u);
  EXPECT_EQ(tac_model_num_outputs(model), 1u);
  EXPECT_STREQ(tac_model_output_name(model, 0), "y");
  EXPECT_EQ(tac_model_output_byte_size(model, 0), 16u);
  EXPECT_STREQ(tac_model_producer(model), "tac 0.1.0");
  EXPECT_EQ(tac_model_num_paths(model), 4u);
  ASSERT_EQ(tac_model_num_variants(model), 3u);
  EXPECT_EQ(tac_model_variant_path(model, 2), 3);
  EXPECT_EQ(tac_model_variant_flops(model, 2), 4 * kLayerFlops);
  EXPECT_EQ(tac_model_controller_flops(model), kControllerFlops);
  EXPECT_EQ(tac_model_input_name(model, 5), nullptr);
  EXPECT_THAT(tac_last_error(), HasSubstr("index 5 out of range"));

  tac_session *session = nullptr;
  ASSERT_EQ(tac_session_create(model, &session), TAC_OK);
  tac_model_free(model); // the session keeps the model alive

  alignas(64) float x[4] = {0.5f, 0.5f, 0.5f, 1.0f}; // sum 2.5: path 2 -> 3
  alignas(64) float y[4] = {};
  const int64_t shape[2] = {1, 4};
  tac_tensor in = {x, TAC_F32, 2, shape, sizeof x};
  tac_tensor out = {y, TAC_F32, 0, nullptr, sizeof y};
  tac_run_info info;
  ASSERT_EQ(tac_session_run(session, &in, 1, &out, 1, nullptr, &info), TAC_OK)
      << tac_last_error();
  EXPECT_EQ(info.path, 3);
  EXPECT_EQ(info.requested_path, 2);
  EXPECT_EQ(info.rounded, 1);
  EXPECT_EQ(info.budget_limited, 0);
  EXPECT_EQ(info.flops, 4 * kLayerFlops + kControllerFlops);
  EXPECT_EQ(info.controller_flops, kControllerFlops);
  ASSERT_EQ(info.num_layers, 4u);
  EXPECT_EQ(info.layers[3], 3);
  Vec4 want = reference({x[0], x[1], x[2], x[3]}, 4);
  for (int i = 0; i < 4; ++i)
    EXPECT_FLOAT_EQ(y[i], want[i]);

  tac_run_options fixed;
  tac_run_options_init(&fixed);
  EXPECT_EQ(fixed.dispatch, TAC_DISPATCH_AUTO);
  fixed.dispatch = TAC_DISPATCH_FIXED;
  fixed.path = 1;
  ASSERT_EQ(tac_session_run(session, &in, 1, &out, 1, &fixed, &info), TAC_OK);
  EXPECT_EQ(info.path, 1);
  EXPECT_EQ(info.num_layers, 2u);
  tac_run_options budget;
  tac_run_options_init(&budget);
  budget.dispatch = TAC_DISPATCH_BUDGET;
  budget.budget_flops = 30;
  ASSERT_EQ(tac_session_run(session, &in, 1, &out, 1, &budget, &info), TAC_OK);
  EXPECT_EQ(info.path, 1);
  EXPECT_EQ(info.budget_limited, 1);
  tac_session_free(session);
}

TEST(CApi, Errors) {
  tac_model *model = nullptr;
  EXPECT_EQ(tac_model_load("/nonexistent.tacm", &model),
            TAC_ERROR_INVALID_FILE);
  EXPECT_EQ(model, nullptr);
  EXPECT_THAT(tac_last_error(), HasSubstr("cannot open '/nonexistent.tacm'"));
  EXPECT_EQ(tac_model_load(nullptr, &model), TAC_ERROR_INVALID_ARGUMENT);

  std::string path = writeModel(adaptiveModel());
  ASSERT_EQ(tac_model_load(path.c_str(), &model), TAC_OK);
  tac_session *session = nullptr;
  ASSERT_EQ(tac_session_create(model, &session), TAC_OK);
  alignas(64) float x[4] = {}, y[4] = {};
  const int64_t shape[2] = {1, 4}, wrongShape[1] = {4};
  tac_tensor in = {x, TAC_F32, 2, shape, sizeof x};
  tac_tensor out = {y, TAC_F32, 0, nullptr, sizeof y};

  EXPECT_EQ(tac_session_run(session, &in, 0, &out, 1, nullptr, nullptr),
            TAC_ERROR_INVALID_ARGUMENT);
  EXPECT_STREQ(tac_last_error(), "expected 1 inputs (x), got 0");

  tac_tensor badType = {x, TAC_I32, 2, shape, sizeof x};
  EXPECT_EQ(tac_session_run(session, &badType, 1, &out, 1, nullptr, nullptr),
            TAC_ERROR_INVALID_ARGUMENT);
  EXPECT_STREQ(tac_last_error(),
               "input 0 'x': expected float32[1, 4] (or N rows: float32[N, 4]), "
               "got int32[1, 4]");
  tac_tensor badShape = {x, TAC_F32, 1, wrongShape, sizeof x};
  EXPECT_EQ(tac_session_run(session, &badShape, 1, &out, 1, nullptr, nullptr),
            TAC_ERROR_INVALID_ARGUMENT);
  EXPECT_STREQ(tac_last_error(),
               "input 0 'x': expected float32[1, 4] (or N rows: float32[N, 4]), "
               "got float32[4]");

  tac_tensor small = {y, TAC_F32, 0, nullptr, 8};
  EXPECT_EQ(tac_session_run(session, &in, 1, &small, 1, nullptr, nullptr),
            TAC_ERROR_INVALID_ARGUMENT);
  EXPECT_THAT(tac_last_error(),
              HasSubstr("output 0 'y': the buffer has 8 bytes, the output "
                        "needs 16"));

  tac_run_options fixed;
  tac_run_options_init(&fixed);
  fixed.dispatch = TAC_DISPATCH_FIXED;
  fixed.path = 2;
  EXPECT_EQ(tac_session_run(session, &in, 1, &out, 1, &fixed, nullptr),
            TAC_ERROR_INVALID_ARGUMENT);
  EXPECT_THAT(tac_last_error(), HasSubstr("compiled paths: 0, 1, 3"));
  tac_run_options bad;
  tac_run_options_init(&bad);
  storeCEnum(bad.dispatch, 9); // what a C caller can pass
  EXPECT_EQ(tac_session_run(session, &in, 1, &out, 1, &bad, nullptr),
            TAC_ERROR_INVALID_ARGUMENT);
  tac_run_options unfilled = {}; // not through tac_run_options_init
  EXPECT_EQ(tac_session_run(session, &in, 1, &out, 1, &unfilled, nullptr),
            TAC_ERROR_INVALID_ARGUMENT);
  EXPECT_THAT(tac_last_error(), HasSubstr("tac_run_options_init"));
  EXPECT_EQ(tac_session_run(nullptr, &in, 1, &out, 1, nullptr, nullptr),
            TAC_ERROR_INVALID_ARGUMENT);
  tac_session_free(session);
  tac_model_free(model);
}

TEST(CApi, SessionOptions) {
  std::string path = writeModel(adaptiveModel());
  tac_model *model = nullptr;
  ASSERT_EQ(tac_model_load(path.c_str(), &model), TAC_OK) << tac_last_error();
  tac_session_options options;
  tac_session_options_init(&options);
  EXPECT_EQ(options.struct_size, sizeof(tac_session_options));
  EXPECT_EQ(options.device, TAC_DEVICE_CPU);
  EXPECT_EQ(options.cuda_graphs, 1);
  EXPECT_EQ(options.cublas, 1);
  EXPECT_EQ(options.gemm_threads, 0);
  EXPECT_EQ(options.threads, 0);
  EXPECT_EQ(options.cublas_in_switch, 1);

  // The defaults make a CPU session that runs.
  tac_session *session = nullptr;
  ASSERT_EQ(tac_session_create_with_options(model, &options, &session), TAC_OK)
      << tac_last_error();
  alignas(64) float x[4] = {0.5f, 0.5f, 0.5f, 1.0f}, y[4] = {};
  const int64_t shape[2] = {1, 4};
  tac_tensor in = {x, TAC_F32, 2, shape, sizeof x};
  tac_tensor out = {y, TAC_F32, 0, nullptr, sizeof y};
  EXPECT_EQ(tac_session_run(session, &in, 1, &out, 1, nullptr, nullptr), TAC_OK)
      << tac_last_error();
  tac_session_free(session);

  // One GEMM thread is what a model without BLAS kernels does anyway; more
  // it cannot honour, and says why.
  options.gemm_threads = 1;
  ASSERT_EQ(tac_session_create_with_options(model, &options, &session), TAC_OK);
  tac_session_free(session);
  options.gemm_threads = 2;
  EXPECT_EQ(tac_session_create_with_options(model, &options, &session),
            TAC_ERROR_UNSUPPORTED);
  EXPECT_EQ(session, nullptr);
  EXPECT_THAT(tac_last_error(), HasSubstr("has no BLAS GEMM kernels"));
  options.gemm_threads = -1;
  EXPECT_EQ(tac_session_create_with_options(model, &options, &session),
            TAC_ERROR_INVALID_ARGUMENT);
  EXPECT_THAT(tac_last_error(), HasSubstr("at least 1"));
  tac_session_options_init(&options);
  options.threads = -3;
  EXPECT_EQ(tac_session_create_with_options(model, &options, &session),
            TAC_ERROR_INVALID_ARGUMENT);
  EXPECT_THAT(tac_last_error(), HasSubstr("not -3"));

  // A struct from another header version, an unknown device, CUDA here.
  tac_session_options_init(&options);
  options.struct_size = 8;
  EXPECT_EQ(tac_session_create_with_options(model, &options, &session),
            TAC_ERROR_INVALID_ARGUMENT);
  EXPECT_THAT(tac_last_error(), HasSubstr("tac_session_options_init"));
  tac_session_options_init(&options);
  storeCEnum(options.device, 7);
  EXPECT_EQ(tac_session_create_with_options(model, &options, &session),
            TAC_ERROR_INVALID_ARGUMENT);
  EXPECT_THAT(tac_last_error(), HasSubstr("TAC_DEVICE_CPU or TAC_DEVICE_CUDA"));
  tac_session_options_init(&options);
  options.device = TAC_DEVICE_CUDA;
  EXPECT_NE(tac_session_create_with_options(model, &options, &session), TAC_OK)
      << "a CPU-only test model cannot run on CUDA";
  EXPECT_EQ(session, nullptr);
  EXPECT_STRNE(tac_last_error(), "");
  tac_model_free(model);
}
