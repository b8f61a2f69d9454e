// tac-run: runs a compiled .tacm model on the CPU or a CUDA GPU through
// libtacrt, prints
// the path the controller chose, its cost and time, and optionally writes
// the outputs or benchmarks the model. See docs/runtime.md.
#include "TensorFiles.h"

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <climits>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <map>
#include <sstream>
#include <unistd.h>

using namespace tac;
using rt::Status;
using rt::Tensor;

namespace {

const char *kUsage =
    "usage: tac-run model.tacm [options]\n"
    "\n"
    "Runs a compiled tac model on the CPU (or CUDA) and reports the path it took.\n"
    "\n"
    "  --input=NAME=FILE    bind input NAME to FILE (.npy or ONNX .pb)\n"
    "  --input=FILE         bind FILE to the next unbound input, in order\n"
    "  --random[=SEED]      fill unbound inputs with random data: floats in\n"
    "                       [0, 1), integers and booleans 0 or 1 (seed 0)\n"
    "  --path=K             run compiled path K (no controller)\n"
    "  --budget-flops=X     cap the variant's FLOPs at X (e.g. 2.5e6)\n"
    "  --device=cpu|cuda    where to run (default cpu); cuda needs a GPU,\n"
    "                       the NVIDIA driver and a --target=cuda file\n"
    "  --dispatch=host|device  CUDA: the host reads the controller's path\n"
    "                       and launches that variant's graph (host), or one\n"
    "                       graph with a SWITCH node picks it on the GPU\n"
    "  --no-graphs          CUDA: replay the plans on a stream (no graphs)\n"
    "  --no-cublas          CUDA: run GEMMs with the generated kernels\n"
    "  --tf32               CUDA: let cuBLASLt use TF32 for GEMMs\n"
    "  --threads=N          threads the session runs on, this one included\n"
    "                       (default 1): the kernels' parallel loops and the\n"
    "                       GEMMs' rows are split across them\n"
    "  --gemm-threads=N     threads each BLAS GEMM call may use itself\n"
    "                       (default 1; with --threads, the pool splits GEMMs)\n"
    "  --batch=N            run N rows in one call (random inputs get N rows;\n"
    "                       input files must hold N rows: the model's shape\n"
    "                       with its leading 1 replaced by N, or a leading N\n"
    "                       added); each row takes its own path\n"
    "  --benchmark=N        3 warm-up runs, then N timed runs: latency\n"
    "                       min/median/max and the path histogram (with\n"
    "                       --random, each run draws fresh inputs)\n"
    "  --require-sha256=HEX refuse the file unless its SHA-256 is HEX (what\n"
    "                       sha256sum prints): a .tacm holds native code\n"
    "  --require-producer=S refuse the file unless tac S produced it\n"
    "                       (e.g. 'tac 0.1.0')\n"
    "  --output-dir=DIR     write each output to DIR/<name>.npy\n"
    "  --print-outputs      print each output's shape and first values\n"
    "  --json               print one JSON object on stdout, nothing else\n"
    "  --extract-cpu-code=FILE  write the CPU code object this machine would\n"
    "                       run (a shared object: objdump, ldd) and exit\n"
    "  --help               this text\n";

struct Options {
  std::string model;
  std::vector<std::pair<std::string, std::string>> named; // NAME, FILE
  std::vector<std::string> positional;                     // FILE
  bool random = false;
  uint64_t seed = 0;
  std::string outputDir;
  bool fixedPath = false;
  int32_t path = 0;
  bool budget = false;
  uint64_t budgetFlops = 0;
  uint64_t benchmark = 0;
  uint64_t batch = 0; // 0: as many rows as the input files hold (else 1)
  std::string extractCpuCode; // --extract-cpu-code: write it, run nothing
  bool json = false;
  bool printOutputs = false;
  rt::SessionOptions session;
  rt::LoadOptions load;
  bool dispatchGiven = false;
};

/// A failure: its one-line message goes to stderr as "tac-run: error: ...".
struct Failure {
  std::string message;
};

bool parseInteger(const std::string &text, long long min, long long max,
                  long long &value) {
  if (text.empty())
    return false;
  char *end = nullptr;
  errno = 0;
  value = std::strtoll(text.c_str(), &end, 10);
  return errno == 0 && *end == '\0' && value >= min && value <= max;
}

std::optional<Failure> parseArgs(int argc, char **argv, Options &o) {
  for (int i = 1; i < argc; ++i) {
    std::string arg = argv[i];
    if (arg == "--help" || arg == "-h") {
      std::cout << kUsage;
      std::exit(0);
    }
    if (arg.rfind("--", 0) != 0) {
      if (!o.model.empty())
        return Failure{"more than one model given ('" + o.model + "' and '" +
                       arg + "'); pass one .tacm file"};
      o.model = arg;
      continue;
    }
    size_t eq = arg.find('=');
    std::string flag = arg.substr(0, eq);
    bool hasValue = eq != std::string::npos;
    std::string value = hasValue ? arg.substr(eq + 1) : "";
    auto needValue = [&]() -> std::optional<Failure> {
      if (!hasValue || value.empty())
        return Failure{flag + " needs a value: " + flag + "=..."};
      return std::nullopt;
    };
    auto noValue = [&]() -> std::optional<Failure> {
      if (hasValue)
        return Failure{flag + " takes no value"};
      return std::nullopt;
    };
    long long number;
    if (flag == "--input") {
      if (auto f = needValue())
        return f;
      o.positional.push_back(value); // split into NAME=FILE once the model
                                     // (and its input names) is known
    } else if (flag == "--random") {
      o.random = true;
      if (hasValue) {
        if (!parseInteger(value, 0, LLONG_MAX, number))
          return Failure{"--random=" + value +
                         ": the seed must be a non-negative integer"};
        o.seed = static_cast<uint64_t>(number);
      }
    } else if (flag == "--extract-cpu-code") {
      if (auto f = needValue())
        return f;
      o.extractCpuCode = value;
    } else if (flag == "--output-dir") {
      if (auto f = needValue())
        return f;
      o.outputDir = value;
    } else if (flag == "--path") {
      if (auto f = needValue())
        return f;
      if (!parseInteger(value, -1, INT32_MAX, number))
        return Failure{"--path=" + value +
                       ": expected a path index (an integer >= -1)"};
      o.fixedPath = true;
      o.path = static_cast<int32_t>(number);
    } else if (flag == "--budget-flops") {
      if (auto f = needValue())
        return f;
      char *end = nullptr;
      double flops = std::strtod(value.c_str(), &end);
      if (*end != '\0' || !std::isfinite(flops) || flops < 0 || flops > 1.8e19)
        return Failure{"--budget-flops=" + value +
                       ": expected a non-negative number of FLOPs (e.g. "
                       "2.5e6)"};
      o.budget = true;
      o.budgetFlops = static_cast<uint64_t>(flops);
    } else if (flag == "--require-sha256") {
      if (auto f = needValue())
        return f;
      o.load.requireSha256 = value;
    } else if (flag == "--require-producer") {
      if (auto f = needValue())
        return f;
      o.load.requireProducer = value;
    } else if (flag == "--batch") {
      if (auto f = needValue())
        return f;
      if (!parseInteger(value, 1, 1000000, number))
        return Failure{"--batch=" + value +
                       ": expected a positive number of rows"};
      o.batch = static_cast<uint64_t>(number);
    } else if (flag == "--benchmark") {
      if (auto f = needValue())
        return f;
      if (!parseInteger(value, 1, 100000000, number))
        return Failure{"--benchmark=" + value +
                       ": expected a positive number of runs"};
      o.benchmark = static_cast<uint64_t>(number);
    } else if (flag == "--threads" || flag == "--gemm-threads") {
      if (auto f = needValue())
        return f;
      bool pool = flag == "--threads"; // the session's pool, or BLAS's own
      int most = pool ? 255 : 1024;
      if (!parseInteger(value, 1, most, number))
        return Failure{flag + "=" + value +
                       ": expected a number of threads from 1 to " +
                       std::to_string(most)};
      (pool ? o.session.threads : o.session.gemmThreads) =
          static_cast<int>(number);
    } else if (flag == "--device") {
      if (auto f = needValue())
        return f;
      if (value == "cpu")
        o.session.device = rt::Device::Cpu;
      else if (value == "cuda")
        o.session.device = rt::Device::Cuda;
      else
        return Failure{"--device=" + value + ": expected cpu or cuda"};
    } else if (flag == "--dispatch") {
      if (auto f = needValue())
        return f;
      if (value == "host")
        o.session.dispatch = rt::GpuDispatch::Host;
      else if (value == "device")
        o.session.dispatch = rt::GpuDispatch::Device;
      else
        return Failure{"--dispatch=" + value + ": expected host or device"};
      o.dispatchGiven = true;
    } else if (flag == "--no-graphs" || flag == "--no-cublas" ||
               flag == "--tf32") {
      if (auto f = noValue())
        return f;
      if (flag == "--no-graphs")
        o.session.cudaGraphs = false;
      else if (flag == "--no-cublas")
        o.session.cublas = false;
      else
        o.session.allowTf32 = true;
    } else if (flag == "--json") {
      if (auto f = noValue())
        return f;
      o.json = true;
    } else if (flag == "--print-outputs") {
      if (auto f = noValue())
        return f;
      o.printOutputs = true;
    } else {
      return Failure{"unknown option '" + arg + "'; run tac-run --help"};
    }
  }
  if (o.model.empty())
    return Failure{"no model given; usage: tac-run model.tacm [options] "
                   "(see --help)"};
  if (o.session.device == rt::Device::Cpu &&
      (o.dispatchGiven || !o.session.cudaGraphs || !o.session.cublas ||
       o.session.allowTf32))
    return Failure{"--dispatch, --no-graphs, --no-cublas and --tf32 apply to "
                   "--device=cuda"};
  if (o.fixedPath && o.budget)
    return Failure{"--path and --budget-flops exclude each other: pick one "
                   "dispatch mode"};
  return std::nullopt;
}

std::string joinNames(const std::vector<rt::TensorSpec> &specs) {
  std::string out;
  for (const rt::TensorSpec &s : specs)
    out += (out.empty() ? "" : ", ") + s.name;
  return out;
}

/// Reads the bound files and checks them against the model's inputs.
/// Unbound inputs stay empty (filled by --random, else an error).
std::optional<Failure> bindInputs(const rt::Model &model, const Options &o,
                                  std::vector<Tensor> &inputs,
                                  std::vector<bool> &bound) {
  const auto &specs = model.inputs();
  inputs.assign(specs.size(), Tensor());
  bound.assign(specs.size(), false);
  auto indexOf = [&](const std::string &name) -> int {
    for (size_t i = 0; i < specs.size(); ++i)
      if (specs[i].name == name)
        return static_cast<int>(i);
    return -1;
  };
  // NAME=FILE when NAME is an input's name; otherwise the whole value is a
  // file name (which may itself contain '=').
  std::vector<std::pair<int, std::string>> bindings;
  std::vector<std::string> inOrder;
  for (const std::string &value : o.positional) {
    size_t eq = value.find('=');
    int index = eq == std::string::npos ? -1 : indexOf(value.substr(0, eq));
    if (index >= 0)
      bindings.push_back({index, value.substr(eq + 1)});
    else if (eq != std::string::npos && access(value.c_str(), F_OK) != 0)
      return Failure{"--input=" + value + ": the model has no input named '" +
                     value.substr(0, eq) + "'; its inputs are: " +
                     joinNames(specs)};
    else
      inOrder.push_back(value);
  }
  for (const auto &[index, file] : bindings) {
    if (bound[index])
      return Failure{"input '" + specs[index].name + "' is bound twice"};
    bound[index] = true;
  }
  size_t next = 0;
  for (const std::string &file : inOrder) {
    while (next < specs.size() && bound[next])
      ++next;
    if (next == specs.size())
      return Failure{"too many inputs: the model takes " +
                     std::to_string(specs.size()) + " (" + joinNames(specs) +
                     ")"};
    bound[next] = true;
    bindings.push_back({static_cast<int>(next), file});
  }
  for (const auto &[index, file] : bindings) {
    const rt::TensorSpec &spec = specs[index];
    rt::Expected<Tensor> tensor = run::readTensorFile(file);
    if (!tensor)
      return Failure{tensor.status().message()};
    // NumPy has no bfloat16: a uint16 array holds a bfloat16 input's bits.
    if (spec.dtype == rt::DType::BF16 && tensor->dtype() == rt::DType::U16 &&
        tensor->shape() == spec.shape) {
      rt::Expected<Tensor> bits = Tensor::allocate(spec.dtype, spec.shape);
      if (!bits)
        return Failure{bits.status().message()};
      std::memcpy(bits->data(), tensor->data(), bits->byteSize());
      tensor = std::move(bits);
    }
    std::optional<uint64_t> rows = rt::rowsOf(tensor->shape(), spec.shape);
    if (tensor->dtype() != spec.dtype || !rows || *rows == 0)
      return Failure{"input '" + spec.name + "' from '" + file + "' is " +
                     rt::describeType(tensor->dtype(), tensor->shape()) +
                     ", the model expects " +
                     rt::describeType(spec.dtype, spec.shape) +
                     " (or N >= 1 rows of it, e.g. " +
                     rt::describeType(spec.dtype, rt::batchShape(spec.shape, 8)) +
                     " for 8); convert the file to that dtype and shape"};
    if (o.batch > 0 && *rows != o.batch)
      return Failure{"input '" + spec.name + "' from '" + file + "' holds " +
                     std::to_string(*rows) + " row(s), but --batch=" +
                     std::to_string(o.batch)};
    inputs[index] = std::move(*tensor);
  }
  if (!o.random) {
    std::string missing;
    for (size_t i = 0; i < specs.size(); ++i)
      if (!bound[i])
        missing += (missing.empty() ? "" : ", ") + specs[i].name + " (" +
                   rt::describeType(specs[i].dtype, specs[i].shape) + ")";
    if (!missing.empty())
      return Failure{"missing inputs: " + missing +
                     "; pass --input=NAME=FILE (.npy or .pb) or --random"};
  }
  return std::nullopt;
}

std::optional<Failure> fillRandom(const rt::Model &model,
                                  const std::vector<bool> &bound,
                                  std::vector<Tensor> &inputs,
                                  std::mt19937_64 &rng, uint64_t rows) {
  for (size_t i = 0; i < inputs.size(); ++i) {
    if (bound[i])
      continue;
    rt::TensorSpec spec = model.inputs()[i];
    spec.shape = rt::batchShape(spec.shape, rows);
    rt::Expected<Tensor> t = run::randomTensor(spec, rng);
    if (!t)
      return Failure{t.status().message()};
    inputs[i] = std::move(*t);
  }
  return std::nullopt;
}

std::string jsonString(const std::string &text) {
  std::string out = "\"";
  for (char c : text) {
    unsigned char u = static_cast<unsigned char>(c);
    if (c == '"' || c == '\\') {
      out += '\\';
      out += c;
    } else if (u < 0x20) {
      char buf[8];
      std::snprintf(buf, sizeof(buf), "\\u%04x", u);
      out += buf;
    } else {
      out += c;
    }
  }
  return out + "\"";
}

std::string jsonList(const std::vector<int64_t> &values) {
  std::string out = "[";
  for (size_t i = 0; i < values.size(); ++i)
    out += (i ? "," : "") + std::to_string(values[i]);
  return out + "]";
}

/// "12.3 MFLOP"-style, keeping small counts exact.
std::string humanFlops(uint64_t flops) {
  char buf[32];
  if (flops < 10000)
    std::snprintf(buf, sizeof(buf), "%llu", static_cast<unsigned long long>(flops));
  else if (flops < 10000000)
    std::snprintf(buf, sizeof(buf), "%.2f K", flops / 1e3);
  else if (flops < 10000000000ULL)
    std::snprintf(buf, sizeof(buf), "%.2f M", flops / 1e6);
  else
    std::snprintf(buf, sizeof(buf), "%.2f G", flops / 1e9);
  return buf;
}

/// An output name made safe as a file name.
std::string sanitize(const std::string &name) {
  std::string out;
  for (char c : name)
    out += (std::isalnum(static_cast<unsigned char>(c)) || c == '.' ||
            c == '-' || c == '_')
               ? c
               : '_';
  if (out.empty() || out == "." || out == "..")
    out = "output" + out;
  return out;
}

struct Benchmark {
  std::vector<double> latencyUs;
  std::vector<double> groupingShare; // of each run's time (batches)
  std::map<int32_t, uint64_t> paths;
};

int fail(const std::string &message) {
  std::cerr << "tac-run: error: " << message << "\n";
  return 1;
}

int runMain(int argc, char **argv) {
  Options o;
  if (auto f = parseArgs(argc, argv, o))
    return fail(f->message);

  rt::Expected<rt::ModelRef> loaded = rt::Model::load(o.model, o.load);
  if (!loaded)
    return fail(loaded.status().message());
  const rt::Model &model = **loaded;
  if (!o.extractCpuCode.empty()) {
    std::vector<uint8_t> code = model.cpuCodeObject();
    if (code.empty())
      return fail("'" + o.model + "' has no CPU code for this machine "
                  "(compiled with --target=cuda, or without kernels)");
    std::ofstream out(o.extractCpuCode, std::ios::binary);
    if (!out.write(reinterpret_cast<const char *>(code.data()),
                   static_cast<std::streamsize>(code.size())) ||
        !out.flush())
      return fail("cannot write '" + o.extractCpuCode + "'");
    std::printf("%s: code object %zu (%s), %zu bytes\n",
                o.extractCpuCode.c_str(), model.codeObjectIndex(),
                model.codeObjectCpu().c_str(), code.size());
    return 0;
  }
  rt::Expected<std::unique_ptr<rt::Session>> created =
      rt::Session::create(*loaded, o.session);
  if (!created)
    return fail(created.status().message());
  rt::Session &session = **created;

  std::vector<Tensor> inputs;
  std::vector<bool> bound;
  if (auto f = bindInputs(model, o, inputs, bound))
    return fail(f->message);
  // Rows per call: --batch, else what the bound files hold.
  uint64_t rows = o.batch;
  for (size_t i = 0; i < inputs.size() && rows == 0; ++i)
    if (bound[i])
      rows = rt::rowsOf(inputs[i].shape(), model.inputs()[i].shape).value_or(1);
  rows = std::max<uint64_t>(rows, 1);
  std::mt19937_64 rng(o.seed);
  if (auto f = fillRandom(model, bound, inputs, rng, rows))
    return fail(f->message);

  rt::RunOptions options;
  if (o.fixedPath)
    options = rt::RunOptions::fixed(o.path);
  else if (o.budget)
    options = rt::RunOptions::budget(o.budgetFlops);

  std::vector<Tensor> outputs;
  rt::RunInfo info;
  if (Status st = session.run(inputs, outputs, options, &info); !st)
    return fail(st.message());

  std::optional<Benchmark> bench;
  if (o.benchmark > 0) {
    bench.emplace();
    for (int warmup = 0; warmup < 3; ++warmup)
      if (Status st = session.run(inputs, outputs, options); !st)
        return fail(st.message());
    for (uint64_t r = 0; r < o.benchmark; ++r) {
      if (o.random)
        if (auto f = fillRandom(model, bound, inputs, rng, rows))
          return fail(f->message);
      rt::RunInfo runInfo;
      auto start = std::chrono::steady_clock::now();
      Status st = session.run(inputs, outputs, options, &runInfo);
      double us = std::chrono::duration<double, std::micro>(
                      std::chrono::steady_clock::now() - start)
                      .count();
      if (!st)
        return fail(st.message());
      bench->latencyUs.push_back(us);
      bench->groupingShare.push_back(runInfo.groupingUs / us);
      for (int32_t path : runInfo.paths)
        ++bench->paths[path];
    }
    std::sort(bench->latencyUs.begin(), bench->latencyUs.end());
    std::sort(bench->groupingShare.begin(), bench->groupingShare.end());
  }

  if (!o.outputDir.empty()) {
    std::error_code ec;
    std::filesystem::create_directories(o.outputDir, ec);
    if (ec)
      return fail("cannot create the output directory '" + o.outputDir +
                  "': " + ec.message());
    for (size_t i = 0; i < outputs.size(); ++i) {
      std::string file =
          o.outputDir + "/" + sanitize(model.outputs()[i].name) + ".npy";
      if (Status st = run::writeNpy(outputs[i], file); !st)
        return fail(st.message());
    }
  }

  const rt::VariantInfo &deepest = model.variants().back();
  uint64_t variantFlops = info.flops - info.controllerFlops;
  if (o.json) {
    std::ostringstream j;
    j << "{\"path\":" << info.path << ",\"requested_path\":"
      << info.requestedPath << ",\"rounded\":"
      << (info.rounded ? "true" : "false") << ",\"budget_limited\":"
      << (info.budgetLimited ? "true" : "false") << ",\"flops\":"
      << info.flops << ",\"controller_flops\":" << info.controllerFlops
      << ",\"time_us\":" << info.timeUs << ",\"device\":"
      << jsonString(session.deviceSummary()) << ",\"layers\":"
      << jsonList(std::vector<int64_t>(info.layers.begin(), info.layers.end()))
      << ",\"rows\":" << info.rows << ",\"paths\":"
      << jsonList(std::vector<int64_t>(info.paths.begin(), info.paths.end()))
      << ",\"outputs\":[";
    for (size_t i = 0; i < outputs.size(); ++i)
      j << (i ? "," : "") << "{\"name\":" << jsonString(model.outputs()[i].name)
        << ",\"shape\":" << jsonList(outputs[i].shape()) << ",\"dtype\":"
        << jsonString(rt::dtypeName(outputs[i].dtype())) << "}";
    j << "]";
    if (bench) {
      const auto &l = bench->latencyUs;
      j << ",\"benchmark\":{\"runs\":" << l.size() << ",\"min_us\":"
        << l.front() << ",\"median_us\":" << l[l.size() / 2]
        << ",\"max_us\":" << l.back() << ",\"grouping_share\":"
        << bench->groupingShare[bench->groupingShare.size() / 2]
        << ",\"rows_per_s\":"
        << 1e6 * static_cast<double>(rows) / l[l.size() / 2]
        << ",\"paths\":{";
      bool first = true;
      for (const auto &[path, count] : bench->paths) {
        j << (first ? "" : ",") << "\"" << path << "\":" << count;
        first = false;
      }
      j << "}}";
    }
    j << "}";
    std::cout << j.str() << "\n";
    return 0;
  }

  std::cout << "model: " << o.model << " (" << model.producer() << "), "
            << model.variants().size() << " compiled variant(s) of "
            << model.numPaths() << " paths\n";
  if (session.device() == rt::Device::Cuda)
    std::cout << "device: " << session.deviceSummary() << "\n";
  if (rows > 1) {
    std::map<int32_t, uint64_t> histogram;
    for (int32_t path : info.paths)
      ++histogram[path];
    std::cout << "rows: " << rows << ", paths:";
    for (const auto &[path, count] : histogram)
      std::cout << " " << path << " x" << count;
    std::cout << "\nrow 0 ";
  }
  std::cout << "path: " << info.path;
  if (o.fixedPath)
    std::cout << " (fixed)";
  else if (info.budgetLimited)
    std::cout << " (the policy chose " << info.requestedPath
              << (info.rounded ? ", rounded up to a compiled path" : "")
              << "; the budget of " << humanFlops(o.budgetFlops)
              << " FLOPs limited it)";
  else if (info.rounded)
    std::cout << " (the policy chose " << info.requestedPath
              << ", which is not compiled: rounded up)";
  else if (model.hasController())
    std::cout << " (chosen by the controller)";
  std::cout << "\n" << (rows > 1 ? "row 0 " : "") << "layers: "
            << info.layers.size();
  if (!info.layers.empty()) {
    std::cout << " (";
    for (size_t i = 0; i < info.layers.size(); ++i)
      std::cout << (i ? ", " : "") << info.layers[i];
    std::cout << ")";
  }
  std::cout << "\nflops" << (rows > 1 ? " (all rows)" : "") << ": "
            << humanFlops(info.flops) << " (variant "
            << humanFlops(variantFlops) << " + controller "
            << humanFlops(info.controllerFlops) << ")";
  if (deepest.flops > 0) {
    char pct[16];
    std::snprintf(pct, sizeof(pct), "%.1f%%",
                  100.0 * static_cast<double>(info.flops) /
                      static_cast<double>(deepest.flops * rows));
    std::cout << ", " << pct << " of the deepest variant's "
              << humanFlops(deepest.flops);
  }
  std::printf("\ntime: %.1f us\n", info.timeUs);
  std::fflush(stdout);
  if (o.printOutputs)
    for (size_t i = 0; i < outputs.size(); ++i)
      std::cout << model.outputs()[i].name << ": "
                << rt::describeType(outputs[i].dtype(), outputs[i].shape())
                << " = " << run::formatValues(outputs[i], 8) << "\n";
  if (bench) {
    const auto &l = bench->latencyUs;
    char line[128];
    std::snprintf(line, sizeof(line),
                  "benchmark: %zu runs: min %.1f us, median %.1f us, max "
                  "%.1f us\n",
                  l.size(), l.front(), l[l.size() / 2], l.back());
    std::cout << line;
    if (rows > 1)
      std::printf("throughput: %.0f rows/s (%llu rows per call, median); "
                  "grouping rows by path, padding and scattering: %.2f%% of "
                  "the time (median)\n",
                  1e6 * static_cast<double>(rows) / l[l.size() / 2],
                  static_cast<unsigned long long>(rows),
                  100 * bench->groupingShare[bench->groupingShare.size() / 2]);
    uint64_t total = l.size() * rows;
    for (const auto &[path, count] : bench->paths)
      std::cout << "  path " << path << ": " << count
                << (rows > 1 ? " rows (" : " runs (") << (100 * count / total)
                << "%)\n";
  }
  return 0;
}
} // namespace

int main(int argc, char **argv) { return runMain(argc, argv); }
