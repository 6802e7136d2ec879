//! The engine on the SDK's fake host.
