"""Wire files of 税务 (tax: resident premium collection): FILE_SPEC.md (the 医保 batch format)."""
