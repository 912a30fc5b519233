import Foundation
import TestSupport
import Testing

/// Replays the committed fuzz corpora (Fuzz/corpus, one hex file per input) through the fuzz targets' bodies, so
/// every run checks what the fuzzer was seeded with and any crash it found that was added there.
@Suite struct FuzzCorpusTests {
    static let corpus = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
        .appendingPathComponent("../../Fuzz/corpus").standardized

    static func inputs(_ target: String) throws -> [(name: String, bytes: [UInt8])] {
        let folder = corpus.appendingPathComponent(target)
        let names = try FileManager.default.contentsOfDirectory(atPath: folder.path).filter { $0.hasSuffix(".hex") }.sorted()
        return try names.map { name in
            let text = try String(contentsOf: folder.appendingPathComponent(name), encoding: .utf8)
            return (name, hexBytes(text.trimmingCharacters(in: .whitespacesAndNewlines)))
        }
    }

    @Test(arguments: [("frame-parser", WireFuzzing.frameParser), ("decoders", WireFuzzing.decoders), ("get-reply", WireFuzzing.getReply)] as [(String, @Sendable ([UInt8]) -> [String])])
    func theCorpusPassesItsTarget(target: String, body: @Sendable ([UInt8]) -> [String]) throws {
        let inputs = try Self.inputs(target)
        #expect(inputs.count >= 5, "\(target): the corpus has \(inputs.count) inputs")
        for input in inputs {
            let problems = body(input.bytes)
            #expect(problems.isEmpty, "\(target)/\(input.name): \(problems)")
        }
    }
}
