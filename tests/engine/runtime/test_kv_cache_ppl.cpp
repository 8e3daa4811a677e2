// The full ppl_raw protocol (64 windows of 512) with fp16, q8 and q4 KV caches (minutes on two cores).
#include "kv_ppl.h"

TEST(KvQuantFull, PerplexityWithinBoundsOnTheFullProtocol) { nibble::check_kv_ppl(64); }
