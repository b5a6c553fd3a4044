use super::*;

#[test]
fn clean_paths_are_relative_and_plain() {
    assert_eq!(clean_path(b"a/b.jpg").unwrap(), "a/b.jpg");
    assert_eq!(clean_path(b"a/").unwrap(), "a");
    assert!(matches!(
        clean_path(b"/etc/passwd"),
        Err(Rejection::AbsolutePath(_))
    ));
    assert!(matches!(
        clean_path(b"a/../../b"),
        Err(Rejection::Traversal(_))
    ));
    assert!(matches!(
        clean_path(b"a//b"),
        Err(Rejection::UncleanPath(_))
    ));
    assert!(matches!(clean_path(b"./a"), Err(Rejection::UncleanPath(_))));
    assert!(matches!(
        clean_path(b"a\\..\\b"),
        Err(Rejection::UncleanPath(_))
    ));
    assert!(matches!(clean_path(b"a\0b"), Err(Rejection::NulByte)));
    assert!(matches!(clean_path(b"\xff"), Err(Rejection::NotUtf8)));
}

#[test]
fn names_collide_after_folding_and_normalising() {
    let mut n = Names::default();
    n.add_file("Night/IMG.jpg").unwrap();
    assert!(matches!(
        n.add_file("night/img.JPG"),
        Err(Rejection::Collides(..))
    ));
    assert!(matches!(
        n.add_file("Night/IMG.jpg"),
        Err(Rejection::Duplicate(_))
    ));
    // "é" composed and decomposed.
    n.add_file("caf\u{e9}.jpg").unwrap();
    assert!(matches!(
        n.add_file("cafe\u{301}.jpg"),
        Err(Rejection::Collides(..))
    ));
    assert!(matches!(
        n.add_file("Night"),
        Err(Rejection::FileAndFolder(_))
    ));
    assert!(matches!(
        n.add_file("caf\u{e9}.jpg/x"),
        Err(Rejection::FileAndFolder(_))
    ));
    n.add_folder("Night").unwrap();
}
