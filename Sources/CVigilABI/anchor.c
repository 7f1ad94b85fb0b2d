/* Anchor translation unit: CVigilABI is header-only. */
