//! Every importer of krypt7-import on arbitrary bytes: nothing panics, and a file read gives
//! a report whose counts match its records.
#![no_main]

use krypt7_import::{Format, Options, read};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let options = Options {
        password: Some(String::from("pw").into()),
        map: [("title".to_string(), "name".to_string())].into(),
    };
    for format in [None].into_iter().chain(Format::ALL.into_iter().map(Some)) {
        if let Ok(i) = read(data, format, &options) {
            assert_eq!(i.report.read.values().sum::<usize>(), i.records.len());
            assert!(i.records.iter().all(|r| !r.title.is_empty()));
        }
    }
});
