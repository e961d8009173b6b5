//! Nothing: this package only holds the criterion benches (see Cargo.toml).
