//! `dl-token`: generate an Ed25519 key pair with its JWKS, and mint tokens for tests and load tests.

use anyhow::Context;
use clap::{Parser, Subcommand, ValueEnum};
use shared::{DownloadName, Minter, ObjectPath, SigningKey};
use std::io::{BufWriter, Write};
use std::path::PathBuf;

#[derive(Parser)]
#[command(version, about = "Keys and tokens for the single-use download server")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Generate an Ed25519 signing key (PEM, mode 0600) and its public JWKS (kid = RFC 7638 thumbprint).
    Keygen {
        /// Where to write the private key; refuses to overwrite.
        #[arg(long, default_value = "signing-key.pem")]
        key: PathBuf,
        /// Where to write the public JWKS.
        #[arg(long, default_value = "jwks.json")]
        jwks: PathBuf,
    },
    /// Print (or write) the public JWKS of an existing signing key.
    Jwks {
        #[arg(long)]
        key: PathBuf,
        #[arg(long)]
        out: Option<PathBuf>,
    },
    /// Mint N tokens, one per line, cycling over the given objects.
    Mint {
        #[arg(long, env = "DL_SIGNING_KEY")]
        key: PathBuf,
        /// Object path inside the store (repeatable).
        #[arg(long = "obj", required = true)]
        objects: Vec<String>,
        #[arg(long, default_value_t = 1)]
        count: usize,
        /// Token lifetime in seconds.
        #[arg(long, default_value_t = 120)]
        ttl: i64,
        #[arg(long, env = "DL_ISSUER", default_value = shared::DEFAULT_ISSUER)]
        issuer: String,
        #[arg(long, env = "DL_AUDIENCE", default_value = shared::DEFAULT_AUDIENCE)]
        audience: String,
        #[arg(long, default_value = "cli")]
        sub: String,
        /// Download file name (defaults to the object's last segment).
        #[arg(long)]
        name: Option<String>,
        /// What each line holds.
        #[arg(long, value_enum, default_value_t = Format::Url)]
        format: Format,
        /// Download server base URL, for `--format url`.
        #[arg(long, default_value = "http://127.0.0.1:8081")]
        base: String,
        /// Output file (default: standard output).
        #[arg(long)]
        out: Option<PathBuf>,
    },
}

#[derive(Clone, Copy, ValueEnum)]
enum Format {
    /// `{base}/d/{token}/{file name}`
    Url,
    /// `/d/{token}/{file name}` (for wrk scripts)
    Path,
    /// The bare token.
    Token,
}

fn main() -> anyhow::Result<()> {
    match Cli::parse().command {
        Command::Keygen { key, jwks } => {
            let signing = SigningKey::generate()?;
            signing.save_new(&key)?;
            signing.public_jwks().write_atomically(&jwks)?;
            eprintln!(
                "kid {}\nprivate key {}\npublic JWKS {}",
                signing.kid(),
                key.display(),
                jwks.display()
            );
        }
        Command::Jwks { key, out } => {
            let jwks = SigningKey::load(&key)?.public_jwks();
            match out {
                Some(path) => jwks.write_atomically(&path)?,
                None => println!("{}", jwks.to_json_pretty()),
            }
        }
        Command::Mint {
            key,
            objects,
            count,
            ttl,
            issuer,
            audience,
            sub,
            name,
            format,
            base,
            out,
        } => {
            let minter = Minter::new(SigningKey::load(&key)?, issuer, audience, ttl);
            let objects = objects
                .iter()
                .map(|o| ObjectPath::parse(o).with_context(|| format!("--obj {o:?}")))
                .collect::<anyhow::Result<Vec<_>>>()?;
            let sink: Box<dyn Write> = match out {
                Some(path) => Box::new(
                    std::fs::File::create(&path)
                        .with_context(|| format!("creating {}", path.display()))?,
                ),
                None => Box::new(std::io::stdout().lock()),
            };
            let mut sink = BufWriter::new(sink);
            let base = base.trim_end_matches('/');
            for i in 0..count {
                let obj = &objects[i % objects.len()];
                let display = DownloadName::sanitize(name.as_deref().unwrap_or(obj.file_name()));
                let minted = minter.mint(&sub, obj, name.as_ref().map(|_| &display))?;
                let file = display.url_path_segment();
                match format {
                    Format::Url => writeln!(sink, "{base}/d/{}/{file}", minted.token)?,
                    Format::Path => writeln!(sink, "/d/{}/{file}", minted.token)?,
                    Format::Token => writeln!(sink, "{}", minted.token)?,
                }
            }
            sink.flush()?;
        }
    }
    Ok(())
}
