// The C# tests of tests/csharp under xunit on .NET, run exactly as scripts/test.sh runs them under
// mono: InteropTests.Main() once (the interop checks, then every suite it discovers, in its order),
// with its TAP lines captured and split by suite. Each suite is one xunit test that fails when any
// of its checks failed, naming each failed check; every check is written to the test's output.
//
// The suites are not called one by one here, because InteropTests.Main runs them itself after its
// own checks (its checks are private to it), and running a suite twice against one cloud would
// onboard the same hierarchies twice. The suites are listed by the same rule InteropTests uses.

using System;
using System.Collections.Generic;
using System.IO;
using System.Linq;
using System.Reflection;
using System.Text.RegularExpressions;
using Xunit;
using Xunit.Abstractions;

// InteropTests.Main runs once with Console.Out redirected (process-wide): no test may run beside it.
[assembly: CollectionBehavior(DisableTestParallelization = true)]

namespace TenantAttach.Tests
{
    /// <summary>One check as InteropTests printed it ("ok N - what" / "not ok N - what").</summary>
    public sealed class CheckLine
    {
        public int Number;
        public bool Ok;
        public string Text;
        /// <summary>The line as printed, with any lines that followed it before the next check
        /// (an exception's stack trace, for instance).</summary>
        public List<string> Lines = new List<string>();
    }

    /// <summary>The checks of one suite, in order, and the other lines printed among them.</summary>
    public sealed class Section
    {
        public readonly List<CheckLine> Checks = new List<CheckLine>();
        public readonly List<string> Lines = new List<string>();
    }

    /// <summary>The one run of InteropTests.Main, shared by every test below.</summary>
    public sealed class MainRun
    {
        public const string OwnChecks = nameof(InteropTests);

        public readonly Dictionary<string, Section> Sections = new Dictionary<string, Section>();
        public string Output = "";
        public int? ExitCode;
        public Exception Stopped;
        /// <summary>"# N tests, P passed, F failed", the last line Main prints when it completes.</summary>
        public int[] Summary;

        private static readonly Lazy<MainRun> Once = new Lazy<MainRun>(Execute);
        public static MainRun Result { get { return Once.Value; } }

        /// <summary>Public static classes with a public static Run(Action&lt;bool, string&gt;), in the
        /// order InteropTests.RunDiscoveredSuites runs them.</summary>
        public static List<Type> SuiteTypes()
        {
            List<Type> suites = new List<Type>();
            foreach (Type type in typeof(InteropTests).Assembly.GetTypes())
            {
                if (type.GetMethod("Run", BindingFlags.Public | BindingFlags.Static, null, new[] { typeof(Action<bool, string>) }, null) != null)
                    suites.Add(type);
            }
            suites.Sort((a, b) => string.CompareOrdinal(a.FullName, b.FullName));
            return suites;
        }

        private static MainRun Execute()
        {
            MainRun run = new MainRun();
            StringWriter captured = new StringWriter();
            TextWriter original = Console.Out;
            Console.SetOut(TextWriter.Synchronized(captured));
            try
            {
                run.ExitCode = InteropTests.Main();
            }
            catch (Exception e)
            {
                run.Stopped = e;
            }
            finally
            {
                Console.Out.Flush();
                Console.SetOut(original);
            }
            run.Output = captured.ToString();
            run.Parse();
            return run;
        }

        private static readonly Regex Tap = new Regex(@"^(ok|not ok) (\d+) - (.*)$");
        private static readonly Regex Totals = new Regex(@"^# (\d+) tests, (\d+) passed, (\d+) failed$");

        private void Parse()
        {
            HashSet<string> suiteNames = new HashSet<string>(SuiteTypes().Select(t => t.FullName));
            Section current = SectionFor(OwnChecks);
            CheckLine last = null;
            List<CheckLine> all = new List<CheckLine>();
            foreach (string raw in Output.Split('\n'))
            {
                string line = raw.TrimEnd('\r');
                Match m = Tap.Match(line);
                Match t = Totals.Match(line);
                if (m.Success)
                {
                    last = new CheckLine { Ok = m.Groups[1].Value == "ok", Number = int.Parse(m.Groups[2].Value), Text = m.Groups[3].Value };
                    last.Lines.Add(line);
                    current.Checks.Add(last);
                    all.Add(last);
                }
                else if (line.StartsWith("# ") && suiteNames.Contains(line.Substring(2)))
                {
                    current = SectionFor(line.Substring(2));
                    last = null;
                }
                else if (t.Success)
                {
                    Summary = new[] { int.Parse(t.Groups[1].Value), int.Parse(t.Groups[2].Value), int.Parse(t.Groups[3].Value) };
                }
                else if (line.Length > 0)
                {
                    if (last != null) last.Lines.Add(line);
                    else current.Lines.Add(line);
                }
            }
            // A completed run's last check is InteropTests' own "test suites found besides these
            // checks", printed after the last suite: it belongs to InteropTests, not to that suite.
            if (Summary != null && all.Count > 0)
            {
                CheckLine found = all[all.Count - 1];
                foreach (Section s in Sections.Values) s.Checks.Remove(found);
                SectionFor(OwnChecks).Checks.Add(found);
            }
        }

        private Section SectionFor(string name)
        {
            Section s;
            if (!Sections.TryGetValue(name, out s)) Sections[name] = s = new Section();
            return s;
        }
    }

    public class CSharpSuites
    {
        private readonly ITestOutputHelper output;

        public CSharpSuites(ITestOutputHelper output)
        {
            this.output = output;
        }

        public static IEnumerable<object[]> Suites()
        {
            return MainRun.SuiteTypes().Select(t => new object[] { t.FullName });
        }

        /// <summary>InteropTests' own checks: loading, statuses, strings, secrets, threads.</summary>
        [Fact]
        public void InteropTests()
        {
            MainRun run = MainRun.Result;
            List<string> problems = new List<string>();
            if (run.Stopped != null) problems.Add("InteropTests.Main threw: " + run.Stopped);
            else if (run.Summary == null) problems.Add("InteropTests.Main returned " + run.ExitCode + " without its summary line");
            else
            {
                // The parse must account for every check Main counted, and agree with its exit code.
                int checks = run.Sections.Values.Sum(s => s.Checks.Count);
                int failed = run.Sections.Values.Sum(s => s.Checks.Count(c => !c.Ok));
                if (checks != run.Summary[0] || failed != run.Summary[2])
                    problems.Add("read " + checks + " checks (" + failed + " failed) but Main counted " + run.Summary[0] + " (" + run.Summary[2] + " failed)");
                if ((run.ExitCode == 0) != (run.Summary[2] == 0))
                    problems.Add("Main returned " + run.ExitCode + " with " + run.Summary[2] + " failed checks");
            }
            Report(MainRun.OwnChecks, problems);
        }

        /// <summary>One suite of tests/csharp (a class with public static Run(Action&lt;bool, string&gt;)).</summary>
        [Theory]
        [MemberData(nameof(Suites))]
        public void Suite(string name)
        {
            MainRun run = MainRun.Result;
            List<string> problems = new List<string>();
            if (!run.Sections.ContainsKey(name))
                problems.Add(name + " did not run: " + (run.Stopped != null ? "InteropTests.Main threw before it: " + run.Stopped
                    : "InteropTests.Main returned " + run.ExitCode + " before it"));
            Report(name, problems);
        }

        private void Report(string name, List<string> problems)
        {
            Section section;
            MainRun.Result.Sections.TryGetValue(name, out section);
            section = section ?? new Section();
            foreach (string line in section.Lines) output.WriteLine(line);
            foreach (CheckLine check in section.Checks)
                foreach (string line in check.Lines) output.WriteLine(line);

            List<CheckLine> failed = section.Checks.Where(c => !c.Ok).ToList();
            if (section.Checks.Count == 0 && problems.Count == 0) problems.Add(name + " made no check");
            if (failed.Count > 0)
                problems.Add(failed.Count + " of " + section.Checks.Count + " checks failed:\n"
                    + string.Join("\n", failed.Select(c => string.Join("\n", c.Lines))));
            Assert.True(problems.Count == 0, name + ": " + string.Join("\n", problems));
            output.WriteLine("# " + name + ": " + section.Checks.Count + " checks passed");
        }
    }
}
