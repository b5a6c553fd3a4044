//! Starts a single-node Garage S3 server in DIR for benchmarks and demos, prints its
//! endpoint and credentials as shell variables, and stops it when standard input
//! closes.
//!
//!     triplicate-garage DIR

fn main() {
    let Some(dir) = std::env::args().nth(1) else {
        eprintln!("usage: triplicate-garage DIR");
        std::process::exit(2);
    };
    let dir = std::path::PathBuf::from(dir);
    std::fs::create_dir_all(&dir).expect("create DIR");
    let garage = triplicate_testkit::garage::Garage::single(&dir);
    println!("GARAGE_ENDPOINT={}", garage.endpoint);
    println!("GARAGE_REGION={}", garage.region);
    println!("GARAGE_BUCKET={}", garage.bucket);
    println!("GARAGE_KEY_ID={}", garage.key_id);
    println!("GARAGE_SECRET={}", garage.secret);
    println!("GARAGE_READY=1");
    let mut sink = String::new();
    while std::io::stdin().read_line(&mut sink).is_ok_and(|n| n > 0) {}
    drop(garage);
}
