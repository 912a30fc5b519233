import GroupCacheAuth
import GroupCacheWire

extension ServerConnection {
    // Turns: every decision to read, start requests or wait is made here, on the connection's queue, from what
    // the state machine returns (see the type's documentation).

    /// Queues a turn unless one is queued already.
    func scheduleTurn() {
        let schedule = state.withLock { state -> Bool in
            guard !state.isClosed, !state.turnScheduled else { return false }
            state.turnScheduled = true
            return true
        }
        guard schedule else { return }
        lane.queue.async { [self] in
            state.withLock { $0.turnScheduled = false }
            turn()
        }
    }

    /// Starts up to `maxRequestsPerTurn` buffered requests, answering at once what needs no waiting and writing
    /// those answers in batches, then settles. Runs on the queue.
    func turn() {
        var batch: [UInt8] = []
        var failed = false
        var started = 0
        // Replies answered at once count against the output cap as soon as they are made. The writer is asked
        // once per turn; what the turn sends is added to that, so the count can only be high (the writer drains
        // meanwhile), and settle() asks again before it stops reading.
        var unwrittenBeforeBatch = writer.unwrittenBytes
        loop: while started < options.maxRequestsPerTurn {
            let unwritten = unwrittenBeforeBatch + batch.count
            let step = state.withLock { $0.machine.nextRequest(unwrittenBytes: unwritten) }
            switch step {
            case .start(let frame):
                started += 1
                switch handler.answerAtOnce(frame, into: &batch) {
                case .answered:
                    if finished() { failed = true }
                case .answeredThenClose:
                    counters.count(.protocolViolation)
                    failed = true
                    break loop
                case .needsWaiting(let waiting):
                    let handler = self.handler
                    Task { [self] in
                        writer.send(await handler.answer(waiting, id: frame.id))
                        if finished(afterWaiting: true) { closeAfterFlushing() }
                    }
                }
            case .answerHandshake(let reply):
                // Nothing else is sent before the handshake is complete: the reply goes out untagged, then
                // every later frame is sealed.
                let sealer = state.withLock { $0.machine.takeSealer() }
                writer.send(reply.encoded())
                if let sealer { writer.startSealing(with: sealer) }
            case .blocked:
                if writer.unwrittenBytes + batch.count >= options.maxOutputBytesPerConnection {
                    counters.outputPauses.add(1, ordering: .relaxed)
                }
                break loop
            case .awaitBytes:
                break loop
            case .fail(let code, let message, let id):
                counters.count(code == .tooLarge ? .tooLarge : code == .unauthenticated ? .unauthenticated : .protocolViolation)
                Frame.encode(kind: .error, id: id, message: ErrorResponse(code: code, message: message), to: &batch)
                failed = true
                break loop
            }
            if batch.count >= Self.batchBytes {
                writer.send(batch)
                unwrittenBeforeBatch += batch.count
                batch.removeAll(keepingCapacity: true)
            }
        }
        if !batch.isEmpty { writer.send(batch) }
        if failed {
            closeAfterFlushing()
            return
        }
        settle(madeProgress: started > 0)
    }

    /// After a turn: holds the partial frame's share of the input budget, starts or stops the read source as the
    /// state machine says, runs the partial-frame clock, and queues another turn if frames are left.
    private func settle(madeProgress: Bool) {
        enum Outcome { case none, turnAgain, tooLarge(Int) }
        var toWake: [@Sendable () -> Void] = []
        let outcome = state.withLock { state -> Outcome in
            guard !state.isClosed, state.machine.phase == .reading else { return .none }
            let unwritten = writer.unwrittenBytes
            if state.machine.canStart(unwrittenBytes: unwritten) {
                let needed = state.machine.partialFrameBytes
                if needed > budget.capacity { return .tooLarge(needed) }
                if needed < state.inputReserved {
                    toWake = budget.release(state.inputReserved - needed, for: ObjectIdentifier(self))
                    state.inputReserved = needed
                    state.machine.awaitingInputBudget = false
                } else if needed > state.inputReserved {
                    let reserved = budget.reserve(needed - state.inputReserved, for: ObjectIdentifier(self)) {
                        [weak self] in self?.scheduleTurn()
                    }
                    if reserved {
                        state.inputReserved = needed
                    } else if !state.machine.awaitingInputBudget {
                        counters.inputPauses.add(1, ordering: .relaxed)
                    }
                    state.machine.awaitingInputBudget = !reserved
                }
            }
            let reading = state.machine.wantsToRead(unwrittenBytes: unwritten)
            setReading(reading, &state)
            if !reading || !state.machine.hasPartialFrame {
                state.partialProgress = nil
            } else if state.partialProgress == nil || madeProgress {
                state.partialProgress = (.now, 0)
            }
            return state.machine.needsTurn(unwrittenBytes: unwritten) ? .turnAgain : .none
        }
        for wake in toWake { wake() }
        switch outcome {
        case .none:
            break
        case .turnAgain:
            scheduleTurn()
        case .tooLarge(let size):
            counters.count(.tooLarge)
            fail(.tooLarge, "a \(size)-byte frame is larger than the node's whole input budget of \(budget.capacity) bytes")
        }
    }

    /// Resumes or suspends the read source. Under the state lock, so a late pause never wins over a resume.
    func setReading(_ reading: Bool, _ state: inout Locked) {
        if reading { state.readSource?.start() } else { state.readSource?.pause() }
    }

    /// Records a finished request; returns whether the connection should now close (a drained shutdown).
    /// A request that waited counts as activity when it finishes, so that a long load does not leave its
    /// connection looking idle; one answered at once finished in the turn of the read that brought it.
    private func finished(afterWaiting: Bool = false) -> Bool {
        let completion = state.withLock { state in
            if afterWaiting { state.lastActivity = .now }
            return state.machine.requestFinished()
        }
        switch completion {
        case .none: return false
        case .close: return true
        case .takeTurn:
            scheduleTurn()
            return false
        }
    }
}
