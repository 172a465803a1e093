// minibit-peer get and seed: download a torrent into a folder, or serve a complete copy.
// Thin: parse flags, build a reactor and a swarm::session, run the loop, print progress.
#pragma once

/// `minibit-peer get FILE.torrent [-o DIR] [options]`; returns the exit status.
int cmd_get(int argc, char** argv);
/// `minibit-peer seed FILE.torrent DATA_PATH [--for SECONDS] [options]`; returns the exit status.
int cmd_seed(int argc, char** argv);
