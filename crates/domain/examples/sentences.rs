//! Splits a text into sentences the way a streamed reply is split: the text
//! is fed to a `SentenceSplitter` a few characters at a time, and each
//! sentence is printed as soon as the splitter decides it.
//!
//! ```text
//! cargo run -p heyclaw-domain --example sentences -- "Hi Dr. Who. Ready? Go."
//! echo "Well... maybe. Wait... What?" | cargo run -p heyclaw-domain --example sentences
//! cargo run -p heyclaw-domain --example sentences -- --chunk 3 "One. Two. Three."
//! ```
//!
//! Options: `--chunk <chars>` (default 5, or `SENTENCES_CHUNK`): how many
//! characters each delta holds. Without a text argument the text is read
//! from standard input.

use std::{io::Read, process::ExitCode};

use heyclaw_domain::SentenceSplitter;

const USAGE: &str = "usage: sentences [--chunk <chars>] [TEXT...]   (no TEXT: read standard input)";

struct Args {
    chunk: usize,
    text: Option<String>,
}

/// `Ok(None)`: help was asked for.
fn parse_args() -> Result<Option<Args>, String> {
    let mut chunk = match std::env::var("SENTENCES_CHUNK") {
        Ok(raw) => parse_chunk(&raw).map_err(|err| format!("SENTENCES_CHUNK: {err}"))?,
        Err(_) => 5,
    };
    let mut words = Vec::new();
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "-h" | "--help" => return Ok(None),
            "--chunk" => {
                let raw = args.next().ok_or("--chunk needs a value, e.g. --chunk 5")?;
                chunk = parse_chunk(&raw).map_err(|err| format!("--chunk: {err}"))?;
            }
            "--" => words.extend(args.by_ref()),
            flag if flag.starts_with("--") => {
                return Err(format!("unknown option {flag}\n{USAGE}"));
            }
            _ => words.push(arg),
        }
    }
    let text = (!words.is_empty()).then(|| words.join(" "));
    Ok(Some(Args { chunk, text }))
}

fn parse_chunk(raw: &str) -> Result<usize, String> {
    match raw.trim().parse::<usize>() {
        Ok(n) if n > 0 => Ok(n),
        _ => Err(format!("expected a whole number above 0, got {raw:?}")),
    }
}

fn main() -> ExitCode {
    let args = match parse_args() {
        Ok(Some(args)) => args,
        Ok(None) => {
            println!("{USAGE}");
            return ExitCode::SUCCESS;
        }
        Err(message) => {
            eprintln!("{message}");
            return ExitCode::FAILURE;
        }
    };
    let text = match args.text {
        Some(text) => text,
        None => {
            let mut text = String::new();
            if let Err(err) = std::io::stdin().read_to_string(&mut text) {
                eprintln!("cannot read the text from standard input: {err}");
                return ExitCode::FAILURE;
            }
            text
        }
    };
    if text.trim().is_empty() {
        eprintln!("no text to split\n{USAGE}");
        return ExitCode::FAILURE;
    }

    // Deltas of `chunk` characters (never cut inside a character), as a
    // model's stream would deliver them.
    let chars: Vec<char> = text.chars().collect();
    let mut splitter = SentenceSplitter::new();
    let mut count = 0;
    for (index, delta) in chars.chunks(args.chunk).enumerate() {
        let delta: String = delta.iter().collect();
        for sentence in splitter.push(&delta) {
            count += 1;
            println!("{count:>3} (after delta {:>3}) {sentence:?}", index + 1);
        }
    }
    if let Some(rest) = splitter.finish() {
        count += 1;
        println!("{count:>3} (at the end)       {rest:?}");
    }
    ExitCode::SUCCESS
}
