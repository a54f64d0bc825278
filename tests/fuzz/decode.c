/* The bt engine's instruction decoder (bt_decode_bytes, then the handler specialisation the block
 * decoder applies): any bytes, in 16-, 32- and 64-bit code.
 * Input: one byte choosing the code size, then the instruction bytes (at most 15 are looked at).
 */
#include "engine/bt/cpu/ops.h"
#include "fuzz.h"

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const unsigned code_size[4] = { 2, 4, 8, 8 };
	struct bt_insn insn;

	if (size < 1)
		return 0;
	unsigned cs = code_size[data[0] & 3];
	int len = bt_decode_bytes(data + 1, (unsigned)(size - 1), cs, &insn);
	if (len > 0) {
		/* A length is within the 15-byte limit and the bytes given. */
		if (len > 15 || (size_t)len > size - 1)
			__builtin_trap();
		bt_specialize(&insn, cs);
	}
	return 0;
}
