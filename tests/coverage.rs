#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    missing_docs
)]
//! The rule for every new loss (ARCHITECTURE.md) as a test, after libm's
//! `check_coverage`: it scans the sources and fails when a public loss lacks
//!
//! 1. a float64 reference in `reference/src/` (a `fn <snake_name>(` or an
//!    enum variant `<Name>`),
//! 2. a conformance case: a case with its name in `tests/data/conformance/`
//!    (`"loss": "<snake_name>"`, or the name in [`CONFORMANCE_NAMES`]) *and*
//!    a call in `tests/conformance.rs`,
//! 3. a fuzz arm: a call in `fuzz/fuzz_targets/*.rs`,
//! 4. a no-alloc call in `tests/no_alloc.rs`.
//!
//! A "call" is `<Name>::` for a loss type or `<name>(` for a row function,
//! in code (comments are stripped). The public losses are found in every
//! file under `src/` (so `src/softmax.rs` and `src/softmax/*.rs` alike):
//!
//! * `pub type <Name><'w> = Pointwise<...>` (the pointwise losses),
//! * `pub struct <Name>` without type parameters whose `impl` block has a
//!   `pub fn value(` (the row and sequence losses),
//! * `pub fn <name>(logits: &[f32], classes: usize, out: &mut [f32])` (the
//!   row functions `logsumexp`, `log_softmax`, `softmax`).

use std::fs;
use std::path::{Path, PathBuf};

/// Losses whose conformance cases carry another name (the reference
/// framework's): `(snake_name, name in the JSON)`. `logsumexp` and `softmax`
/// are checked on the `log_softmax` cases (`x - out` and `e^out`).
const CONFORMANCE_NAMES: &[(&str, &str)] = &[
    ("kl_divergence", "kl_div"),
    ("logsumexp", "log_softmax"),
    ("softmax", "log_softmax"),
    ("sigmoid_bce_per_class", "sigmoid_bce"),
];

/// The families the scan must find losses in (a broken scan fails here
/// instead of checking nothing).
const EXPECTED: &[&str] = &[
    "L1",
    "Huber",
    "PoissonNll",
    "SoftmaxCrossEntropy",
    "KlDivergence",
    "logsumexp",
    "Triplet",
    "CosineEmbedding",
    "Sdml",
    "MultilabelSoftMargin",
    "MultiMargin",
    "MultilabelMargin",
    "Ctc",
    "Mse",
    "SigmoidFocal",
    "SigmoidBcePerClass",
    "GaussianNll",
    "MarginRanking",
];

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// Every `.rs` file under `dir`, recursively, sorted.
fn rust_files(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for entry in fs::read_dir(&d).unwrap_or_else(|e| panic!("reading {}: {e}", d.display())) {
            let path = entry.expect("dir entry").path();
            if path.is_dir() {
                stack.push(path);
            } else if path.extension().is_some_and(|x| x == "rs") {
                out.push(path);
            }
        }
    }
    out.sort();
    out
}

/// The code of a file: `//` comments (and so doc comments) removed.
fn code(path: &Path) -> String {
    let text =
        fs::read_to_string(path).unwrap_or_else(|e| panic!("reading {}: {e}", path.display()));
    text.lines()
        .map(|l| match l.find("//") {
            Some(i) => &l[..i],
            None => l,
        })
        .collect::<Vec<_>>()
        .join("\n")
}

fn code_of_all(paths: &[PathBuf]) -> String {
    paths.iter().map(|p| code(p)).collect::<Vec<_>>().join("\n")
}

fn is_ident(c: char) -> bool {
    c.is_alphanumeric() || c == '_'
}

/// Whether `needle` occurs in `hay` not preceded by an identifier character.
fn has_word_prefix(hay: &str, needle: &str) -> bool {
    hay.match_indices(needle)
        .any(|(i, _)| !hay[..i].chars().next_back().is_some_and(is_ident))
}

/// The first identifier at the start of `s`.
fn ident(s: &str) -> &str {
    let end = s.find(|c: char| !is_ident(c)).unwrap_or(s.len());
    &s[..end]
}

/// `SquaredHinge` -> `squared_hinge`, `L1` -> `l1`, `logsumexp` unchanged.
fn snake(name: &str) -> String {
    let mut out = String::new();
    let mut prev_lower = false;
    for c in name.chars() {
        if c.is_uppercase() {
            if prev_lower {
                out.push('_');
            }
            out.extend(c.to_lowercase());
            prev_lower = false;
        } else {
            out.push(c);
            prev_lower = c.is_lowercase() || c.is_ascii_digit();
        }
    }
    out
}

/// A public loss found in `src/`.
#[derive(Debug)]
struct Loss {
    /// As written in the crate: `SquaredHinge`, `Ctc`, `logsumexp`.
    name: String,
    /// A type (`Name::` calls) or a row function (`name(` calls).
    is_type: bool,
    /// The file it was found in.
    file: PathBuf,
}

impl Loss {
    fn snake(&self) -> String {
        snake(&self.name)
    }

    /// Whether `code` calls this loss.
    fn called_in(&self, code: &str) -> bool {
        if self.is_type {
            has_word_prefix(code, &format!("{}::", self.name))
        } else {
            has_word_prefix(code, &format!("{}(", self.name))
        }
    }
}

/// The public losses, scanned from every file under `src/`.
fn public_losses() -> Vec<Loss> {
    let mut losses = Vec::new();
    let files = rust_files(&root().join("src"));
    for file in &files {
        let text = code(file);
        // Whitespace-normalised, for signatures rustfmt may wrap.
        let flat = text.split_whitespace().collect::<Vec<_>>().join(" ");
        for line in text.lines() {
            let line = line.trim();
            if let Some(rest) = line.strip_prefix("pub type ") {
                let name = ident(rest);
                if rest.contains("= Pointwise<") {
                    losses.push(Loss {
                        name: name.to_string(),
                        is_type: true,
                        file: file.clone(),
                    });
                }
            }
            if let Some(rest) = line.strip_prefix("pub struct ") {
                let name = ident(rest);
                if name.is_empty() {
                    continue; // a macro's `pub struct $name`
                }
                let generics = rest[name.len()..].trim_start();
                let type_param = generics.starts_with('<')
                    && generics[1..generics.find('>').unwrap_or(generics.len())]
                        .split(',')
                        .any(|p| !p.trim().starts_with('\''));
                if !type_param && has_value_method(&files, name) {
                    losses.push(Loss {
                        name: name.to_string(),
                        is_type: true,
                        file: file.clone(),
                    });
                }
            }
        }
        let signature = "(logits: &[f32], classes: usize, out: &mut [f32])";
        for (i, _) in flat.match_indices("pub fn ") {
            let rest = &flat[i + "pub fn ".len()..];
            let name = ident(rest);
            if rest[name.len()..].starts_with(signature) {
                losses.push(Loss {
                    name: name.to_string(),
                    is_type: false,
                    file: file.clone(),
                });
            }
        }
    }
    losses
}

/// Whether some `impl ... <name>... {` block in `files` has `pub fn value(`.
fn has_value_method(files: &[PathBuf], name: &str) -> bool {
    files.iter().any(|file| {
        let text = code(file);
        let lines: Vec<&str> = text.lines().collect();
        lines.iter().enumerate().any(|(i, line)| {
            let is_impl = line.starts_with("impl")
                && !line.contains(" for ")
                && line
                    .split(|c: char| !is_ident(c))
                    .skip(1)
                    .any(|word| word == name);
            is_impl
                && lines[i + 1..]
                    .iter()
                    .take_while(|l| !l.starts_with('}'))
                    .any(|l| {
                        let l = l.trim_start();
                        // `value(`, or a generic `value<Y: Label>(`.
                        l.starts_with("pub fn value(") || l.starts_with("pub fn value<")
                    })
        })
    })
}

/// Whether the reference crate has `fn <snake>(` or an enum variant `<Name>`.
fn has_reference(reference: &str, loss: &Loss) -> bool {
    let snake = loss.snake();
    has_word_prefix(reference, &format!("fn {snake}("))
        || reference.lines().any(|l| {
            let l = l.trim_start();
            ident(l) == loss.name
                && l[loss.name.len()..]
                    .trim_start()
                    .starts_with([',', '{', '('])
        })
}

/// The `"loss"` names of every conformance case.
fn conformance_names() -> Vec<String> {
    let dir = root().join("tests/data/conformance");
    let mut names = Vec::new();
    for entry in fs::read_dir(&dir).expect("conformance dir") {
        let path = entry.expect("dir entry").path();
        if path.extension().is_some_and(|x| x == "json") {
            let doc: serde_json::Value =
                serde_json::from_str(&fs::read_to_string(&path).expect("read")).expect("parse");
            for case in doc["cases"].as_array().expect("cases") {
                names.push(case["loss"].as_str().expect("loss").to_string());
            }
        }
    }
    names
}

/// Every gap of every public loss: `"<loss> (<file>): no <what>"`.
fn gaps(losses: &[Loss]) -> Vec<String> {
    let reference = code_of_all(&rust_files(&root().join("reference/src")));
    let fuzz = code_of_all(&rust_files(&root().join("fuzz/fuzz_targets")));
    let no_alloc = code(&root().join("tests/no_alloc.rs"));
    let conformance_rs = code(&root().join("tests/conformance.rs"));
    let cases = conformance_names();
    let mut gaps = Vec::new();
    for loss in losses {
        let snake = loss.snake();
        let json_name = CONFORMANCE_NAMES
            .iter()
            .find(|(s, _)| *s == snake)
            .map_or(snake.as_str(), |(_, j)| j);
        let mut missing = Vec::new();
        if !has_reference(&reference, loss) {
            missing.push("float64 reference in reference/src/".to_string());
        }
        if !cases.iter().any(|c| c == json_name) {
            missing.push(format!(
                "conformance case (\"loss\": \"{json_name}\") in tests/data/conformance/"
            ));
        }
        if !loss.called_in(&conformance_rs) {
            missing.push("call in tests/conformance.rs".to_string());
        }
        if !loss.called_in(&fuzz) {
            missing.push("fuzz arm in fuzz/fuzz_targets/".to_string());
        }
        if !loss.called_in(&no_alloc) {
            missing.push("no-alloc call in tests/no_alloc.rs".to_string());
        }
        for m in missing {
            gaps.push(format!(
                "{} ({}): no {m}",
                loss.name,
                loss.file
                    .strip_prefix(root())
                    .unwrap_or(&loss.file)
                    .display()
            ));
        }
    }
    gaps
}

#[test]
fn every_public_loss_has_reference_conformance_fuzz_and_no_alloc_coverage() {
    let losses = public_losses();
    let names: Vec<&str> = losses.iter().map(|l| l.name.as_str()).collect();
    for want in EXPECTED {
        assert!(
            names.contains(want),
            "the scan of src/ did not find `{want}` (found {names:?}): fix the scan"
        );
    }
    let gaps = gaps(&losses);
    println!(
        "coverage: {} public losses checked: {}",
        losses.len(),
        names.join(", ")
    );
    assert!(
        gaps.is_empty(),
        "{} coverage gaps (see ARCHITECTURE.md, \"The rule for every new loss\"):\n{}",
        gaps.len(),
        gaps.join("\n")
    );
}

#[test]
fn the_scan_sees_a_missing_piece() {
    // A loss nobody covers is reported in every column.
    let ghost = Loss {
        name: "GhostLoss".to_string(),
        is_type: true,
        file: root().join("src/ghost.rs"),
    };
    assert_eq!(gaps(&[ghost]).len(), 5);
    assert_eq!(snake("SquaredHinge"), "squared_hinge");
    assert_eq!(snake("L1"), "l1");
    assert_eq!(snake("KlDivergence"), "kl_divergence");
    assert_eq!(snake("logsumexp"), "logsumexp");
}
