// minibit-peer: create and inspect .torrent files (create, info); the peer engine's get and seed
// commands join here as they land. Thin: parse flags, call libminibit, print.
#include <cstdio>
#include <exception>
#include <filesystem>
#include <fstream>
#include <string>

#include <fmt/format.h>

#include "../common/flags.hpp"
#include "agent_main.hpp"
#include "minibit/core/metainfo.hpp"
#include "transfer.hpp"

namespace {

using minibit::apps::flags;
using minibit::apps::usage_error;

constexpr std::string_view usage_text = R"(usage: minibit-peer COMMAND ...

commands:
  create PATH --tracker URL [--tracker URL...] [--one-tier] [--piece-size BYTES | --pieces N]
         [--comment TEXT] [--private] [-o OUT.torrent]
      Hash a file or a folder (multi-file torrent) and write a .torrent file
      (default: PATH's name + .torrent in the current folder). Prints the info hash
      in hex as the last line. Several trackers form one tier each (BEP 12: tried in
      order); --one-tier puts them in one tier (trackers sharing a swarm: a client
      keeps the first that answers and moves on when it fails).
  info FILE.torrent
      Print the torrent's name, total size, piece length, piece count, files,
      trackers and info hash.
  get FILE.torrent [-o DIR] [--seed-for SECONDS] [options]
      Download into DIR (default .), verify every piece with SHA-1, exit 0 when
      complete. Restarting on a partial download keeps the verified pieces.
  seed FILE.torrent DATA_PATH [--for SECONDS] [options]
      Serve a complete copy; DATA_PATH is the folder holding the torrent's data.
      `minibit-peer get --help` and `minibit-peer seed --help` list every option
      (--port, --numwant, --stats-json, --log, --io, --threads, --peer, ...).
  agent [--state-dir DIR] [--download-dir DIR] [--socket PATH] [--listen ADDR:PORT]
      Run the host agent: many torrents, one peer port, a JSON API on a Unix socket.
  add FILE.torrent [-o DIR] | list [--json] | status HASH [--json] | pause HASH
  | resume HASH | remove HASH [--delete-data] | wait HASH [--timeout S]
      Drive a running agent through its socket (--socket PATH on each).
  help
      Show this text.

Exit status: 0 on success, 1 on a runtime error (bad file, I/O), 2 on a usage error.
)";

// Thrown for errors the user caused through input files; main prints and exits 1.
struct runtime_failure : std::runtime_error {
    using std::runtime_error::runtime_error;
};

int cmd_create(int argc, char** argv) {
    // "-o" is the one short flag; rewrite it to the long form before parsing.
    std::vector<std::string> args(argv, argv + argc);
    for (auto& a : args) {
        if (a == "-o") a = "--output";
    }
    std::vector<char*> ptrs;
    for (auto& a : args) ptrs.push_back(a.data());
    const flags f(static_cast<int>(ptrs.size()), ptrs.data(), 2,
                  {"tracker", "piece-size", "pieces", "output", "comment"},
                  {"private", "one-tier"});
    if (f.positional().size() != 1) throw usage_error("create needs exactly one PATH");
    if (f.has("piece-size") && f.has("pieces")) {
        throw usage_error("give --piece-size or --pieces, not both");
    }
    minibit::create_options opts;
    opts.trackers = f.all("tracker");
    if (opts.trackers.empty()) throw usage_error("create needs at least one --tracker URL");
    opts.piece_length = f.get_uint("piece-size", 1, 256ULL << 20U).value_or(0);
    opts.piece_count = static_cast<std::uint32_t>(f.get_uint("pieces", 1, 1U << 24U).value_or(0));
    opts.comment = f.get("comment").value_or("");
    opts.is_private = f.has("private");
    opts.one_tier = f.has("one-tier");

    const std::filesystem::path source = f.positional()[0];
    auto bytes = minibit::create_torrent(source, opts);
    if (!bytes) throw runtime_failure(bytes.error().message());
    auto parsed = minibit::parse_metainfo(*bytes);
    if (!parsed) throw runtime_failure(parsed.error().message());

    std::filesystem::path out = f.get("output").value_or(
        std::filesystem::absolute(source).lexically_normal().filename().string() + ".torrent");
    if (out.filename().empty()) throw usage_error("the output path names a folder");
    const std::filesystem::path tmp = out.string() + ".part";
    {
        std::ofstream file(tmp, std::ios::binary | std::ios::trunc);
        file.write(bytes->data(), static_cast<std::streamsize>(bytes->size()));
        file.close();
        if (!file) throw runtime_failure(fmt::format("cannot write {}", tmp.string()));
    }
    std::error_code ec;
    std::filesystem::rename(tmp, out, ec);
    if (ec) throw runtime_failure(fmt::format("cannot write {}: {}", out.string(), ec.message()));
    fmt::print("created {} ({} pieces of {} bytes, {} bytes total)\n", out.string(),
               parsed->piece_count(), parsed->piece_length, parsed->total_length);
    fmt::print("{}\n", parsed->hash.hex());
    return 0;
}

int cmd_info(int argc, char** argv) {
    const flags f(argc, argv, 2, {}, {});
    if (f.positional().size() != 1) throw usage_error("info needs exactly one FILE.torrent");
    auto m = minibit::load_metainfo(f.positional()[0]);
    if (!m) throw runtime_failure(m.error().message());
    fmt::print("name: {}\n", m->name);
    fmt::print("total_size: {}\n", m->total_length);
    fmt::print("piece_length: {}\n", m->piece_length);
    fmt::print("piece_count: {}\n", m->piece_count());
    fmt::print("private: {}\n", m->is_private ? "yes" : "no");
    for (const auto& tier : m->tracker_tiers()) {
        for (const auto& url : tier) fmt::print("tracker: {}\n", url);
    }
    if (m->creation_date) fmt::print("creation_date: {}\n", *m->creation_date);
    if (!m->created_by.empty()) fmt::print("created_by: {}\n", m->created_by);
    if (!m->comment.empty()) fmt::print("comment: {}\n", m->comment);
    fmt::print("files: {}\n", m->files.size());
    for (const auto& file : m->files) {
        fmt::print("  {} {}\n", file.length, file.path.string());
    }
    fmt::print("info_hash: {}\n", m->hash.hex());
    return 0;
}

int dispatch(int argc, char** argv) {
    if (argc < 2) throw usage_error("missing COMMAND (try: minibit-peer help)");
    const std::string_view cmd = argv[1];
    if (cmd == "create") return cmd_create(argc, argv);
    if (cmd == "info") return cmd_info(argc, argv);
    if (cmd == "get") return cmd_get(argc, argv);
    if (cmd == "seed") return cmd_seed(argc, argv);
    if (minibit::apps::is_agent_command(cmd)) return minibit::apps::run_agent_command(argc, argv);
    if (cmd == "help" || cmd == "--help" || cmd == "-h") {
        fmt::print("{}", usage_text);
        return 0;
    }
    throw usage_error(fmt::format("unknown command '{}' (try: minibit-peer help)", cmd));
}

}  // namespace

int main(int argc, char** argv) {
    try {
        return dispatch(argc, argv);
    } catch (const usage_error& e) {
        fmt::print(stderr, "minibit-peer: {}\n", e.what());
        return 2;
    } catch (const std::exception& e) {
        fmt::print(stderr, "minibit-peer: {}\n", e.what());
        return 1;
    }
}
