//! `cargo xtask openapi`: writes the OpenAPI document generated from the
//! code to `docs/openapi.json`, the committed snapshot a test compares with.

use anyhow::Result;

pub fn run() -> Result<()> {
    let path = crate::repo_root().join("docs/openapi.json");
    let mut json = heyclaw_http::document().to_pretty_json()?;
    json.push('\n');
    std::fs::write(&path, json)?;
    println!("wrote {}", path.display());
    Ok(())
}
