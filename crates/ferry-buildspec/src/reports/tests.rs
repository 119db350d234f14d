use super::*;

const JUNIT: &str = r#"<?xml version="1.0" encoding="UTF-8"?>
<testsuites name="all">
  <testsuite name="com.example.MathTest" tests="5">
    <testcase classname="com.example.MathTest" name="adds" time="0.005"/>
    <testcase classname="com.example.MathTest" name="divides" time="1,234.5">
      <failure message="expected 2 but was 3" type="AssertionError">stack trace here</failure>
    </testcase>
    <testcase classname="com.example.MathTest" name="overflows" time="0.1">
      <error type="java.lang.ArithmeticException">boom &amp; bust
        at Math.java:12</error>
    </testcase>
    <testcase classname="com.example.MathTest" name="later">
      <skipped message="not today"/>
    </testcase>
    <testcase classname="com.example.MathTest" name="flaky" time="abc">
      <skipped/>
      <failure message="second try failed"/>
    </testcase>
  </testsuite>
  <testsuite name="outer">
    <testsuite name="inner">
      <testcase name="nested" time="2"><system-out>hi</system-out></testcase>
    </testsuite>
    <testcase name="after-inner"/>
  </testsuite>
</testsuites>
"#;

#[test]
fn junit_cases_statuses_durations_messages() {
    let cases = parse_report("report.xml", ReportFormat::JunitXml, JUNIT).unwrap();
    let brief: Vec<(&str, &str, CaseStatus)> =
        cases.iter().map(|c| (c.suite.as_str(), c.name.as_str(), c.status)).collect();
    assert_eq!(
        brief,
        [
            ("com.example.MathTest", "adds", CaseStatus::Succeeded),
            ("com.example.MathTest", "divides", CaseStatus::Failed),
            ("com.example.MathTest", "overflows", CaseStatus::Error),
            ("com.example.MathTest", "later", CaseStatus::Skipped),
            ("com.example.MathTest", "flaky", CaseStatus::Failed),
            ("inner", "nested", CaseStatus::Succeeded),
            ("outer", "after-inner", CaseStatus::Succeeded),
        ]
    );
    assert_eq!(cases[0].prefix, "com.example.MathTest");
    assert_eq!(cases[0].duration, Some(Duration::from_millis(5)));
    assert_eq!(cases[1].duration, Some(Duration::from_secs_f64(1234.5)));
    assert_eq!(cases[1].message.as_deref(), Some("expected 2 but was 3"));
    assert_eq!(cases[2].message.as_deref(), Some("boom & bust\n        at Math.java:12"));
    assert_eq!(cases[3].message.as_deref(), Some("not today"));
    assert_eq!(cases[4].duration, None);
    assert_eq!(cases[4].message.as_deref(), Some("second try failed"));
    assert_eq!(cases[0].message, None);

    let summary = Summary::of(&cases);
    assert_eq!(
        (summary.total, summary.succeeded, summary.failed, summary.error, summary.skipped, summary.unknown),
        (7, 3, 2, 1, 1, 0)
    );
    assert!(!summary.succeeded());
    let rate = summary.pass_rate().unwrap();
    assert!((rate - 300.0 / 7.0).abs() < 1e-9, "{rate}");
    assert_eq!(summary.duration, Duration::from_secs_f64(0.005 + 1234.5 + 0.1 + 2.0));
}

#[test]
fn junit_single_suite_root_and_empty_reports() {
    let cases =
        parse_report("r.xml", ReportFormat::JunitXml, "<testsuite name=\"s\"><testcase name=\"a\"/></testsuite>")
            .unwrap();
    assert_eq!(cases.len(), 1);
    assert_eq!(cases[0].suite, "s");
    assert!(parse_report("r.xml", ReportFormat::JunitXml, "<testsuites/>").unwrap().is_empty());
    let empty = Summary::of(&[]);
    assert_eq!(empty.pass_rate(), None);
    assert!(empty.succeeded());
}

fn malformed(format: ReportFormat, text: &str) -> String {
    parse_report("report.xml", format, text).unwrap_err().to_string()
}

#[test]
fn malformed_reports_are_clear_errors() {
    assert_eq!(
        malformed(ReportFormat::JunitXml, "<html><body/></html>"),
        "report.xml: expected a JUnit XML report (<testsuites> or <testsuite>), got <html> (line 1)"
    );
    assert_eq!(
        malformed(ReportFormat::JunitXml, ""),
        "report.xml: expected a JUnit XML report (<testsuites> or <testsuite>), got an empty document (line 1)"
    );
    let e =
        malformed(ReportFormat::JunitXml, "<testsuites>\n<testsuite name=\"a\">\n<testcase name=\"x\">\n</testsuites>");
    assert!(e.starts_with("report.xml: invalid XML"), "{e}");
    assert!(e.ends_with("(line 4)"), "{e}");
    let e = malformed(ReportFormat::JunitXml, "<testsuites>\n<testcase name=\"x\">");
    assert!(e.contains("ends inside an element"), "{e}");
    assert_eq!(
        malformed(ReportFormat::JunitXml, "<testsuites><testcase name=\"&nope;\"/></testsuites>").split(':').next(),
        Some("report.xml")
    );
    assert_eq!(
        malformed(ReportFormat::JunitXml, "<!DOCTYPE x [<!ENTITY a \"b\">]><testsuites/>"),
        "report.xml: a DOCTYPE is not accepted in a test report (line 1)"
    );
    let deep = format!("<testsuites>{}", "<a>".repeat(100));
    assert!(malformed(ReportFormat::JunitXml, &deep).contains("deeper than 64"));
    assert_eq!(
        malformed(ReportFormat::NunitXml, "<x/>"),
        "report.xml: ferry does not read NUNITXML reports yet (it reads JUNITXML, TESTNGXML and CUCUMBERJSON)"
    );
    assert_eq!(
        malformed(ReportFormat::CucumberJson, "{\"a\": 1}"),
        "report.xml: expected a Cucumber JSON report (a list of features)"
    );
    let e = malformed(ReportFormat::CucumberJson, "[\n{\"name\": }\n]");
    assert!(e.starts_with("report.xml: invalid JSON") && e.ends_with("(line 2)"), "{e}");
}

#[test]
fn size_and_case_limits() {
    let many = format!("<testsuites>{}</testsuites>", "<testcase name=\"a\"/>".repeat(MAX_CASES + 1));
    assert!(malformed(ReportFormat::JunitXml, &many).contains("more than 100000 test cases"));
    let long =
        format!("<testsuite><testcase name=\"a\"><failure message=\"{}\"/></testcase></testsuite>", "x".repeat(10_000));
    let cases = parse_report("r.xml", ReportFormat::JunitXml, &long).unwrap();
    assert_eq!(cases[0].message.as_ref().unwrap().chars().count(), MAX_MESSAGE_CHARS + 1);
}

#[test]
fn read_report_bounds_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let ok = dir.path().join("ok.xml");
    std::fs::write(&ok, JUNIT).unwrap();
    assert_eq!(read_report(&ok, ReportFormat::JunitXml).unwrap().len(), 7);
    let big = dir.path().join("big.xml");
    let f = std::fs::File::create(&big).unwrap();
    f.set_len(MAX_REPORT_BYTES + 1).unwrap();
    assert!(matches!(read_report(&big, ReportFormat::JunitXml), Err(ReportError::TooLarge { .. })));
    let binary = dir.path().join("bin.xml");
    std::fs::write(&binary, [0xff, 0xfe, 0x00]).unwrap();
    assert!(read_report(&binary, ReportFormat::JunitXml).unwrap_err().to_string().contains("not UTF-8"));
    assert!(matches!(read_report(&dir.path().join("none"), ReportFormat::JunitXml), Err(ReportError::Io { .. })));
}

const TESTNG: &str = r#"<?xml version="1.0" encoding="UTF-8"?>
<testng-results skipped="1" failed="1" total="3" passed="1">
  <suite name="Suite1" duration-ms="40">
    <test name="Test1">
      <class name="com.example.LoginTest">
        <test-method status="PASS" signature="setUp()" name="setUp" is-config="true" duration-ms="3">
          <exception class="x"><message>ignored</message></exception>
        </test-method>
        <test-method status="PASS" name="logsIn" duration-ms="12"/>
        <test-method status="FAIL" name="rejectsBadPassword" duration-ms="20">
          <exception class="java.lang.AssertionError">
            <message><![CDATA[expected [false] but found [true]]]></message>
            <full-stacktrace><![CDATA[trace]]></full-stacktrace>
          </exception>
        </test-method>
        <test-method status="SKIP" name="locksOut" duration-ms="0"/>
      </class>
    </test>
  </suite>
</testng-results>
"#;

#[test]
fn testng_methods_without_config_methods() {
    let cases = parse_report("testng-results.xml", ReportFormat::TestNgXml, TESTNG).unwrap();
    let brief: Vec<(&str, CaseStatus)> = cases.iter().map(|c| (c.name.as_str(), c.status)).collect();
    assert_eq!(
        brief,
        [
            ("logsIn", CaseStatus::Succeeded),
            ("rejectsBadPassword", CaseStatus::Failed),
            ("locksOut", CaseStatus::Skipped)
        ]
    );
    assert_eq!(cases[0].suite, "Suite1");
    assert_eq!(cases[0].prefix, "com.example.LoginTest");
    assert_eq!(cases[1].duration, Some(Duration::from_millis(20)));
    assert_eq!(cases[1].message.as_deref(), Some("expected [false] but found [true]"));
    assert_eq!(
        malformed(ReportFormat::TestNgXml, "<testsuites/>"),
        "report.xml: expected a TestNG XML report (<testng-results>), got <testsuites> (line 1)"
    );
}

const CUCUMBER: &str = r#"[
  {
    "uri": "features/login.feature",
    "name": "Login",
    "elements": [
      {"type": "background", "name": "bg", "steps": [{"result": {"status": "passed", "duration": 5}}]},
      {"type": "scenario", "name": "good password", "steps": [
        {"result": {"status": "passed", "duration": 1000000}},
        {"result": {"status": "passed", "duration": 2000000}}
      ]},
      {"type": "scenario", "name": "bad password",
       "before": [{"result": {"status": "passed", "duration": 1}}],
       "steps": [
        {"result": {"status": "failed", "duration": 3, "error_message": "expected error page"}},
        {"result": {"status": "skipped"}}
      ]},
      {"type": "scenario", "name": "not written", "steps": [{"result": {"status": "undefined"}}]}
    ]
  },
  {"uri": "features/empty.feature", "name": "Empty"}
]"#;

#[test]
fn cucumber_scenarios() {
    let cases = parse_report("cucumber.json", ReportFormat::CucumberJson, CUCUMBER).unwrap();
    let brief: Vec<(&str, CaseStatus)> = cases.iter().map(|c| (c.name.as_str(), c.status)).collect();
    assert_eq!(
        brief,
        [
            ("good password", CaseStatus::Succeeded),
            ("bad password", CaseStatus::Failed),
            ("not written", CaseStatus::Skipped)
        ]
    );
    assert_eq!(cases[0].suite, "Login");
    assert_eq!(cases[0].prefix, "features/login.feature");
    assert_eq!(cases[0].duration, Some(Duration::from_millis(3)));
    assert_eq!(cases[1].duration, Some(Duration::from_nanos(4)));
    assert_eq!(cases[1].message.as_deref(), Some("expected error page"));
}

/// Mutations of every example: no panic, every error names the file.
#[test]
fn no_panic_on_mutated_reports() {
    let inserts = ["", "<", ">", "&", "&#0;", "&#x110000;", "\"", "]]>", "<![CDATA[", "/>", "{", "[", ",", "\0", "…"];
    for (format, seed) in
        [(ReportFormat::JunitXml, JUNIT), (ReportFormat::TestNgXml, TESTNG), (ReportFormat::CucumberJson, CUCUMBER)]
    {
        let chars: Vec<char> = seed.chars().collect();
        for at in (0..chars.len()).step_by(5) {
            let head: String = chars[..at].iter().collect();
            let tail: String = chars[at..].iter().collect();
            for insert in inserts {
                for text in [format!("{head}{insert}{tail}"), format!("{head}{insert}")] {
                    if let Err(e) = parse_report("r", format, &text) {
                        assert!(e.to_string().starts_with("r: "), "{e}");
                    }
                }
            }
        }
    }
}
