/// Returns the bytes spelled by `text`: pairs of hex digits, with whitespace anywhere and `#` comments to the end
/// of a line ignored. Crashes on anything else, since the text is always a test's own.
public func hexBytes(_ text: String) -> [UInt8] {
    var digits: [UInt8] = []
    for line in text.split(separator: "\n", omittingEmptySubsequences: false) {
        for character in line.prefix(while: { $0 != "#" }) where !character.isWhitespace {
            guard let digit = character.hexDigitValue else { fatalError("not a hex digit: \(character)") }
            digits.append(UInt8(digit))
        }
    }
    precondition(digits.count.isMultiple(of: 2), "an odd number of hex digits")
    return stride(from: 0, to: digits.count, by: 2).map { digits[$0] << 4 | digits[$0 + 1] }
}

extension Collection<UInt8> {
    /// The bytes as space-separated hex pairs, for failure messages.
    public var hex: String {
        map { byte in
            let digits = String(byte, radix: 16)
            return byte < 0x10 ? "0" + digits : digits
        }.joined(separator: " ")
    }
}

/// Returns `count` bytes of `pattern` repeated, built by doubling so that even 64 MiB take a moment.
public func repeated(_ pattern: [UInt8], toCount count: Int) -> [UInt8] {
    var bytes = pattern
    while bytes.count < count { bytes += bytes }
    return Array(bytes.prefix(count))
}
