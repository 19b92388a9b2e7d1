//! JUnit XML for CI systems (`kafka-sim run --junit FILE`, `explore --junit FILE`): one
//! `<testsuite>` per scenario, one `<testcase>` per seed (`classname` the scenario, `name`
//! `seed N`), a `<failure>` carrying the violations and the command that reproduces them.
//!
//! The file has no `time` or `timestamp` attributes: its bytes are a function of the
//! scenarios and seeds run, like everything else the simulator writes, so two reports of the
//! same sweep can be diffed (wall time is in the summary line on stdout). Every seed listed
//! ran, so `skipped` is always 0; a seed whose simulation panicked is an `<error>`, not a
//! `<failure>`: the testbed broke, no expectation was judged.
//!
//! Written by hand (the format is small): text and attributes escaped, and characters XML 1.0
//! cannot hold (control characters other than tab, newline and carriage return) replaced by
//! U+FFFD, so a panic message cannot make the report unreadable.

/// How one seed ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    Passed,
    /// An expectation failed: `message` is the one-line verdict, `details` the rest (the
    /// reproduce command, where files went).
    Failure {
        message: String,
        details: String,
    },
    /// The run could not be judged (the simulation panicked).
    Error {
        message: String,
        details: String,
    },
}

/// One seed of one scenario.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TestCase {
    /// The scenario's name.
    pub classname: String,
    pub seed: u64,
    pub outcome: Outcome,
}

/// A whole report: `name` is the command (`kafka-sim run`), cases in the order they ran.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Report {
    pub name: String,
    pub cases: Vec<TestCase>,
}

impl Report {
    pub fn new(name: impl Into<String>) -> Self {
        Report {
            name: name.into(),
            cases: Vec::new(),
        }
    }

    /// The report as XML. Cases of one scenario form one `<testsuite>`, in the order each
    /// scenario first appears.
    pub fn to_xml(&self) -> String {
        let mut suites: Vec<(&str, Vec<&TestCase>)> = Vec::new();
        for case in &self.cases {
            match suites.iter_mut().find(|(name, _)| *name == case.classname) {
                Some((_, cases)) => cases.push(case),
                None => suites.push((&case.classname, vec![case])),
            }
        }
        let count = |cases: &[&TestCase], f: fn(&Outcome) -> bool| {
            cases.iter().filter(|c| f(&c.outcome)).count()
        };
        let failed = |o: &Outcome| matches!(o, Outcome::Failure { .. });
        let errored = |o: &Outcome| matches!(o, Outcome::Error { .. });
        let all: Vec<&TestCase> = self.cases.iter().collect();
        let mut out = String::from("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
        out.push_str(&format!(
            "<testsuites name=\"{}\" tests=\"{}\" failures=\"{}\" errors=\"{}\" skipped=\"0\">\n",
            escape_attribute(&self.name),
            all.len(),
            count(&all, failed),
            count(&all, errored)
        ));
        for (name, cases) in &suites {
            out.push_str(&format!(
                "  <testsuite name=\"{}\" tests=\"{}\" failures=\"{}\" errors=\"{}\" skipped=\"0\">\n",
                escape_attribute(name),
                cases.len(),
                count(cases, failed),
                count(cases, errored)
            ));
            for case in cases {
                let open = format!(
                    "    <testcase classname=\"{}\" name=\"seed {}\"",
                    escape_attribute(&case.classname),
                    case.seed
                );
                let (element, message, details) = match &case.outcome {
                    Outcome::Passed => {
                        out.push_str(&open);
                        out.push_str("/>\n");
                        continue;
                    }
                    Outcome::Failure { message, details } => ("failure", message, details),
                    Outcome::Error { message, details } => ("error", message, details),
                };
                out.push_str(&format!(
                    "{open}>\n      <{element} message=\"{}\" type=\"{}\">{}</{element}>\n    </testcase>\n",
                    escape_attribute(message),
                    if element == "failure" { "expectation" } else { "panic" },
                    escape_text(&if details.is_empty() {
                        message.clone()
                    } else {
                        format!("{message}\n{details}")
                    }),
                ));
            }
            out.push_str("  </testsuite>\n");
        }
        out.push_str("</testsuites>\n");
        out
    }
}

/// Text as an XML attribute value (double-quoted): the five special characters as
/// entities, newlines and tabs as character references (a parser would otherwise fold them
/// into spaces), characters XML 1.0 forbids as U+FFFD.
pub fn escape_attribute(text: &str) -> String {
    escape(text, true)
}

/// Text as XML character data: as [`escape_attribute`], but newlines and tabs stay.
pub fn escape_text(text: &str) -> String {
    escape(text, false)
}

fn escape(text: &str, attribute: bool) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            '\n' if attribute => out.push_str("&#10;"),
            '\r' => out.push_str("&#13;"),
            '\t' if attribute => out.push_str("&#9;"),
            '\n' | '\t' => out.push(c),
            c if (c as u32) < 0x20 || c == '\u{FFFE}' || c == '\u{FFFF}' => out.push('\u{FFFD}'),
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn report() -> Report {
        let mut r = Report::new("kafka-sim run");
        for (classname, seed, outcome) in [
            ("quickstart", 1, Outcome::Passed),
            ("acks1", 1, Outcome::Passed),
            (
                "quickstart",
                2,
                Outcome::Failure {
                    message: "unexpected lost-write: p1-3 at orders-0 <offset 7> & \"more\"".into(),
                    details: "reproduce: kafka-sim run scenarios/quickstart.json --seed 2".into(),
                },
            ),
            (
                "acks1",
                3,
                Outcome::Error {
                    message: "the simulation panicked: bad\u{0}byte\tend".into(),
                    details: String::new(),
                },
            ),
        ] {
            r.cases.push(TestCase {
                classname: classname.into(),
                seed,
                outcome,
            });
        }
        r
    }

    #[test]
    fn one_suite_per_scenario_one_case_per_seed_failures_carry_the_reproduce_command() {
        assert_eq!(
            report().to_xml(),
            r#"<?xml version="1.0" encoding="UTF-8"?>
<testsuites name="kafka-sim run" tests="4" failures="1" errors="1" skipped="0">
  <testsuite name="quickstart" tests="2" failures="1" errors="0" skipped="0">
    <testcase classname="quickstart" name="seed 1"/>
    <testcase classname="quickstart" name="seed 2">
      <failure message="unexpected lost-write: p1-3 at orders-0 &lt;offset 7&gt; &amp; &quot;more&quot;" type="expectation">unexpected lost-write: p1-3 at orders-0 &lt;offset 7&gt; &amp; &quot;more&quot;
reproduce: kafka-sim run scenarios/quickstart.json --seed 2</failure>
    </testcase>
  </testsuite>
  <testsuite name="acks1" tests="2" failures="0" errors="1" skipped="0">
    <testcase classname="acks1" name="seed 1"/>
    <testcase classname="acks1" name="seed 3">
      <error message="the simulation panicked: bad�byte&#9;end" type="panic">the simulation panicked: bad�byte	end</error>
    </testcase>
  </testsuite>
</testsuites>
"#
        );
    }

    #[test]
    fn an_empty_report_is_still_a_document() {
        assert_eq!(
            Report::new("kafka-sim explore").to_xml(),
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<testsuites name=\"kafka-sim explore\" tests=\"0\" failures=\"0\" errors=\"0\" skipped=\"0\">\n</testsuites>\n"
        );
    }
}
