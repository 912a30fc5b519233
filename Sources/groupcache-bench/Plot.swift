import Foundation

/// Draws the latency percentiles of one caller fetching 64-byte values, every system on one chart, as a PNG with
/// gnuplot (Debian: gnuplot-nox). Returns the note to print.
func plotLatencies(_ report: Report, to folder: URL) -> String {
    guard let gnuplot = findExecutable("gnuplot") else {
        return "no latency plot: gnuplot is not installed (Debian: apt-get install gnuplot-nox)"
    }
    let rows = report.rows.filter { ($0.section == "peer hit" || $0.section == "floor") && $0.valueBytes == 64 && $0.callers == 1 }
    guard !rows.isEmpty else { return "no latency plot: no 64-byte sequential figures" }
    var plots: [String] = []
    for (index, row) in rows.enumerated() {
        let file = folder.appendingPathComponent("latency-\(index).dat")
        // x is 1 / (1 - percentile): 2 at p50, 10 at p90, 100 at p99, on a log scale.
        let lines = (row.curve ?? []).filter { $0[0] < 100 }.map { "\(100 / (100 - $0[0])) \($0[1])" }
        try? (lines.joined(separator: "\n") + "\n").write(to: file, atomically: true, encoding: .utf8)
        plots.append("'\(file.path)' using 1:2 with lines linewidth 2 title '\(row.system)'")
    }
    let image = folder.appendingPathComponent("latency.png")
    let script = """
        set terminal pngcairo size 1000,600 noenhanced
        set output '\(image.path)'
        set title 'GET of a 64-byte value, one caller, loopback (\(report.machine["cpus"] ?? "?") CPUs shared by client and servers)'
        set logscale x
        set xtics ('p0' 1, 'p50' 2, 'p90' 10, 'p99' 100, 'p99.9' 1000, 'p99.99' 10000)
        set xlabel 'percentile'
        set ylabel 'latency (us)'
        set logscale y
        set grid
        set key top left
        plot \(plots.joined(separator: ", "))
        """
    let scriptFile = folder.appendingPathComponent("latency.gnuplot")
    try? script.write(to: scriptFile, atomically: true, encoding: .utf8)
    let process = Process()
    process.executableURL = URL(fileURLWithPath: gnuplot)
    process.arguments = [scriptFile.path]
    process.standardError = FileHandle.nullDevice
    do { try process.run() } catch { return "no latency plot: gnuplot did not start: \(error)" }
    process.waitUntilExit()
    return process.terminationStatus == 0 ? "latency plot: \(image.path)" : "no latency plot: gnuplot failed (script in \(scriptFile.path))"
}
