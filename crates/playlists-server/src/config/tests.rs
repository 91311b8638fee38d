//! Tests of the settings: defaults, the merge of flags, file and environment, and validation.

use super::*;

#[test]
fn defaults_match_the_design() {
    let c = Config::default();
    assert_eq!(c.listen, "127.0.0.1:8080".parse().unwrap());
    assert_eq!(c.library_options(), playlists::Options::default());
    c.http_options().unwrap();
}

#[test]
fn flags_override_the_file_which_overrides_defaults() {
    let dir = std::env::temp_dir().join(format!("playlists-config-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("c.toml");
    std::fs::write(
        &file,
        "listen = \"127.0.0.1:9000\"\ntarget_duration_s = 2\ncors_origin = \"https://a.example\"\n",
    )
    .unwrap();
    let c = Config::load_from([
        "playlists",
        "--config",
        file.to_str().unwrap(),
        "--target-duration-s",
        "6",
    ])
    .unwrap();
    assert_eq!(c.listen, "127.0.0.1:9000".parse().unwrap());
    assert_eq!(c.target_duration_s, Some(6), "the flag wins");
    assert_eq!(
        c.cors_origin, "https://a.example",
        "the file wins over the default"
    );
    assert_eq!(c.part_target_ms, 200, "the default fills the rest");

    std::fs::write(&file, "listn = \"x\"\n").unwrap();
    let err = Config::load_from(["playlists", "--config", file.to_str().unwrap()]).unwrap_err();
    assert!(err.to_string().contains("listn"), "{err}");
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn zero_copy_is_on_by_default_and_can_be_turned_off_by_flag_or_file() {
    let arena = |c: Config| c.part_store().unwrap().arena().cloned();
    assert!(arena(Config::default()).is_some());
    let off = Config::load_from(["playlists", "--zero-copy", "false"]).unwrap();
    assert!(arena(off).is_none());

    let dir = std::env::temp_dir().join(format!("playlists-zc-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("c.toml");
    std::fs::write(&file, "zero_copy = false\n").unwrap();
    let from_file = Config::load_from(["playlists", "--config", file.to_str().unwrap()]);
    assert!(arena(from_file.unwrap()).is_none());
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn a_part_directory_must_hold_an_arena() {
    let part_dir = |c: Result<Config, ConfigError>| c.unwrap().part_store();
    let dir = std::env::temp_dir();
    let ok = part_dir(Config::load_from([
        "playlists",
        "--part-dir",
        dir.to_str().unwrap(),
    ]));
    assert!(
        ok.unwrap().arena().is_some(),
        "an arena in {}",
        dir.display()
    );

    let missing = dir.join(format!("playlists-no-such-dir-{}", std::process::id()));
    let err = part_dir(Config::load_from([
        "playlists",
        "--part-dir",
        missing.to_str().unwrap(),
    ]))
    .unwrap_err()
    .to_string();
    assert!(
        err.contains("part_dir") && err.contains("No such file"),
        "{err}"
    );

    let err = part_dir(Config::load_from([
        "playlists",
        "--zero-copy",
        "false",
        "--part-dir",
        dir.to_str().unwrap(),
    ]))
    .unwrap_err()
    .to_string();
    assert!(err.contains("--zero-copy true"), "{err}");
}

#[test]
fn rtmp_is_off_unless_asked_for_or_the_demo_runs() {
    assert_eq!(Config::default().rtmp_listen(), None);
    let demo = Config::load_from(["playlists", "--demo"]).unwrap();
    assert_eq!(
        demo.rtmp_listen(),
        Some(("127.0.0.1:1935".parse().unwrap(), true))
    );
    let c = Config::load_from([
        "playlists",
        "--demo",
        "--rtmp-listen",
        "127.0.0.1:0",
        "--rtmp-max-mbits",
        "5",
    ])
    .unwrap();
    assert_eq!(
        c.rtmp_listen(),
        Some(("127.0.0.1:0".parse().unwrap(), false))
    );
    let rtmp = c.rtmp_config().unwrap();
    assert_eq!(rtmp.max_bitrate, 5_000_000);
    assert_eq!(rtmp.max_message_bytes, 8 << 20);
    assert!(!rtmp.reuse_port);
    let upgrading = Config::load_from(["playlists", "--upgrade-socket", "/run/p.sock"]).unwrap();
    assert!(upgrading.rtmp_config().unwrap().reuse_port);
    let zero = Config::load_from(["playlists", "--rtmp-max-connections", "0"]).unwrap();
    let err = zero.rtmp_config().unwrap_err().to_string();
    assert!(err.contains("rtmp_max_connections"), "{err}");
}

#[test]
fn srt_is_off_unless_asked_for_and_its_passphrase_is_checked_but_never_shown() {
    let c = Config::default();
    assert_eq!(c.srt_listen, None);
    let srt = c.srt_config().unwrap();
    assert_eq!(srt.latency, Duration::from_millis(200));
    assert_eq!(srt.passphrase, None);
    let c = Config::load_from([
        "playlists",
        "--srt-listen",
        "127.0.0.1:9000",
        "--srt-latency-ms",
        "500",
        "--srt-passphrase",
        "ten letters or more",
        "--srt-max-mbits",
        "5",
    ])
    .unwrap();
    let srt = c.srt_config().unwrap();
    assert_eq!(srt.latency, Duration::from_millis(500));
    assert_eq!(srt.max_bitrate, 5_000_000);
    assert!(srt.passphrase.is_some());
    assert!(!format!("{srt:?}").contains("ten letters"), "{srt:?}");
    for (flag, value) in [
        ("--srt-passphrase", "short"),
        ("--srt-latency-ms", "0"),
        ("--srt-max-connections", "0"),
    ] {
        let c = Config::load_from(["playlists", flag, value]).unwrap();
        let err = c.srt_config().unwrap_err().to_string();
        assert!(err.contains(&flag[2..].replace('-', "_")), "{err}");
        if flag == "--srt-passphrase" {
            assert!(
                !err.contains(value),
                "the passphrase is not repeated: {err}"
            );
        }
    }
    // Off loopback, it needs a credential, as every listener that takes publishing.
    let open = Config::load_from(["playlists", "--srt-listen", "0.0.0.0:9000"]).unwrap();
    let err = open.ingest_config().unwrap_err().to_string();
    assert!(err.contains("srt_listen"), "{err}");
    let keyed = Config::load_from([
        "playlists",
        "--srt-listen",
        "0.0.0.0:9000",
        "--ingest-token",
        "t",
    ])
    .unwrap();
    assert!(keyed.ingest_config().is_ok());
}

#[test]
fn too_many_event_loops_are_refused_by_name() {
    let c = Config {
        threads: MAX_EVENT_LOOPS + 1,
        ..Config::default()
    };
    let err = c.http_options().unwrap_err().to_string();
    assert!(err.contains("threads") && err.contains("1024"), "{err}");
    let c = Config {
        threads: MAX_EVENT_LOOPS,
        ..Config::default()
    };
    assert!(c.http_options().is_ok());
    assert_eq!(c.event_loops(), MAX_EVENT_LOOPS);
}

#[test]
fn out_of_range_settings_are_named() {
    let c = Config {
        max_header_bytes: 100,
        ..Config::default()
    };
    assert!(c
        .http_options()
        .unwrap_err()
        .to_string()
        .contains("max_header_bytes"));
    let c = Config {
        request_timeout_secs: 12,
        ..Config::default()
    };
    assert!(c
        .http_options()
        .unwrap_err()
        .to_string()
        .contains("request_timeout_secs"));
}
