#!/bin/sh
# A tiny test runner: runs each check, writes a JUnit XML report to
# reports/junit.xml and exits non-zero if a check failed.
mkdir -p reports
failures=0
cases=""
check() { # name, expected, actual
    if [ "$2" = "$3" ]; then
        echo "PASS $1"
        cases="$cases<testcase classname=\"hello\" name=\"$1\" time=\"0.01\"/>"
    else
        echo "FAIL $1: expected '$2', got '$3'"
        failures=$((failures + 1))
        cases="$cases<testcase classname=\"hello\" name=\"$1\" time=\"0.01\"><failure message=\"expected $2\">got $3</failure></testcase>"
    fi
}
check greets "hello, world" "$(sh ./hello.sh)"
check exits-zero "0" "$(sh ./hello.sh >/dev/null; echo $?)"
printf '<testsuite name="hello" tests="2" failures="%s">%s</testsuite>\n' "$failures" "$cases" > reports/junit.xml
[ "$failures" -eq 0 ]
