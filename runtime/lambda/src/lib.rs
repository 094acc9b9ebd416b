//! Lambda handlers: thin shells over the engine's steps.
