"""One ModalScreen per prompt; each dismisses its answer (None when cancelled)."""
