/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/* The concept lists of vigil_concepts.h, for Swift to check its tables against. */
#include "vigil_abi.h"

#define VIGIL_ABI_ENTRY(n, v) {#n, v},

static const struct vigil_abi_entry flavours[] = {VIGIL_HOOK_FLAVOUR_LIST(VIGIL_ABI_ENTRY)};
static const struct vigil_abi_entry arg_kinds[] = {VIGIL_ARG_KIND_LIST(VIGIL_ABI_ENTRY)};
static const struct vigil_abi_entry ops[] = {VIGIL_OP_LIST(VIGIL_ABI_ENTRY)};
static const struct vigil_abi_entry acts[] = {VIGIL_ACT_LIST(VIGIL_ABI_ENTRY)};

#define VIGIL_ABI_LIST(a)                        \
	do {                                     \
		*entries = a;                    \
		return sizeof(a) / sizeof(a[0]); \
	} while (0)

__u32 vigil_abi_concept(enum vigil_abi_concept_kind kind, const struct vigil_abi_entry **entries)
{
	switch (kind) {
	case VIGIL_CONCEPT_HOOK_FLAVOURS: VIGIL_ABI_LIST(flavours);
	case VIGIL_CONCEPT_ARG_KINDS: VIGIL_ABI_LIST(arg_kinds);
	case VIGIL_CONCEPT_OPS: VIGIL_ABI_LIST(ops);
	case VIGIL_CONCEPT_ACTS: VIGIL_ABI_LIST(acts);
	}
	*entries = 0;
	return 0;
}
