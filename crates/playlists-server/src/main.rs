//! `playlists`: the LL-HLS origin binary. Wiring only; everything lives in the library crates.

fn main() -> anyhow::Result<()> {
    Ok(())
}
