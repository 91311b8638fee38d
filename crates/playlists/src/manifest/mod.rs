//! LL-HLS media and multivariant playlists (§4.4).
