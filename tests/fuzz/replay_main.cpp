// Replays fuzz inputs without libFuzzer: every regular file under the folders (or files) given on
// the command line goes through the target's LLVMFuzzerTestOneInput once, in sorted order. Built
// with any compiler, so `meson test --suite fuzz-regression` replays corpora and crash inputs.
// Exits 1 when no input was found (a missing corpus must not pass silently).
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>
#include <vector>

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size);

namespace {

std::vector<std::filesystem::path> collect(int argc, char** argv) {
    std::vector<std::filesystem::path> files;
    for (int i = 1; i < argc; ++i) {
        const std::filesystem::path root(argv[i]);
        if (std::filesystem::is_regular_file(root)) {
            files.push_back(root);
            continue;
        }
        if (!std::filesystem::is_directory(root)) {
            std::fprintf(stderr, "replay: no such file or folder: %s\n", argv[i]);
            continue;
        }
        for (const auto& e : std::filesystem::recursive_directory_iterator(root)) {
            if (e.is_regular_file()) files.push_back(e.path());
        }
    }
    std::sort(files.begin(), files.end());
    return files;
}

}  // namespace

int main(int argc, char** argv) {
    const auto files = collect(argc, argv);
    for (const auto& f : files) {
        std::ifstream in(f, std::ios::binary);
        const std::vector<char> bytes{std::istreambuf_iterator<char>(in),
                                      std::istreambuf_iterator<char>()};
        std::fprintf(stderr, "replay: %s (%zu bytes)\n", f.c_str(), bytes.size());
        // A fresh copy of exactly `size` bytes, so out-of-bounds reads stay detectable.
        std::vector<std::uint8_t> copy(bytes.begin(), bytes.end());
        (void)LLVMFuzzerTestOneInput(copy.data(), copy.size());
    }
    std::printf("replayed %zu inputs\n", files.size());
    return files.empty() ? 1 : 0;
}
