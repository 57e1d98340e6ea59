# The libFuzzer targets, one per decoder of outside input: each NAME is
# built from NAME.cpp and seeded from corpus/NAME/.  Included by the clang
# build that compiles them (tests/fuzz/CMakeLists.txt) and by the test build
# that runs them (tests/CMakeLists.txt).
set(AOE_FUZZERS
    fuzz-abft            # discovery/abft.h: the table a boot firmware leaves
    fuzz-identify        # initiator/identify.h: a target's IDENTIFY data
    fuzz-nbd-handshake   # nbd-bridge/protocol.h: a client's handshake
    fuzz-nbd-request     # nbd-bridge/protocol.h: a client's requests
    fuzz-wire)           # initiator/wire.h: AoE frames from the network
