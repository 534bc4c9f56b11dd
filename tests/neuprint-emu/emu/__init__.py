"""neuprint-emu: a test emulator of the neuPrint service (standard library only)."""
