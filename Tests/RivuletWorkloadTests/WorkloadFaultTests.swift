import Testing
@testable import RivuletWorkload

@Suite struct WorkloadFaultTests {
    @Test(arguments: [
        ("at 10s delay broker 1 by 50ms", WorkloadFault(at: .seconds(10), action: .delay(.broker(1), by: .milliseconds(50)))),
        ("at 10s delay broker 1 by 50ms for 2m", WorkloadFault(at: .seconds(10), action: .delay(.broker(1), by: .milliseconds(50)), duration: .seconds(120))),
        ("at 1.5s delay leader of partition 3 by 1s for 500ms",
         WorkloadFault(at: .milliseconds(1500), action: .delay(.leaderOfPartition(3), by: .seconds(1)), duration: .milliseconds(500))),
        ("at 10s kill broker 2", WorkloadFault(at: .seconds(10), action: .kill(.broker(2)))),
        ("at 10s kill broker 2 for 5s", WorkloadFault(at: .seconds(10), action: .kill(.broker(2)), duration: .seconds(5))),
        ("at 10s kill leader of partition 0 for 5s", WorkloadFault(at: .seconds(10), action: .kill(.leaderOfPartition(0)), duration: .seconds(5))),
        ("at 0s pause broker 0 for 250us", WorkloadFault(at: .zero, action: .pause(.broker(0)), duration: .microseconds(250))),
        ("at 1h pause leader of partition 9 for 1s", WorkloadFault(at: .seconds(3600), action: .pause(.leaderOfPartition(9)), duration: .seconds(1))),
        ("at 3s restart broker 1", WorkloadFault(at: .seconds(3), action: .restart(.broker(1)))),
        ("at 3s restart leader of partition 1", WorkloadFault(at: .seconds(3), action: .restart(.leaderOfPartition(1)))),
        ("at 3s partition broker 1 for 10s", WorkloadFault(at: .seconds(3), action: .partition(.broker(1)), duration: .seconds(10))),
        ("at 3s partition leader of partition 4 for 10s",
         WorkloadFault(at: .seconds(3), action: .partition(.leaderOfPartition(4)), duration: .seconds(10))),
        ("at 20s kill consumer 1", WorkloadFault(at: .seconds(20), action: .killConsumer(1))),
        ("at 20s add consumer", WorkloadFault(at: .seconds(20), action: .addConsumer)),
        ("  at   2m   add   consumer  ", WorkloadFault(at: .seconds(120), action: .addConsumer)),
    ])
    func parse_everyForm(text: String, expected: WorkloadFault) throws {
        let fault = try WorkloadFault.parse(text)
        #expect(fault == expected)
        // The canonical text parses back to the same fault.
        #expect(try WorkloadFault.parse(fault.description) == fault)
    }

    @Test(arguments: [
        ("", "expected 'at'"),
        ("in 10s kill broker 1", "expected 'at', found 'in'"),
        ("at ten kill broker 1", "'ten' after 'at' is not a duration"),
        ("at 10 kill broker 1", "'10' after 'at' is not a duration"),
        ("at 10s", "expected a fault verb"),
        ("at 10s crash broker 1", "unknown fault verb 'crash'"),
        ("at 10s kill node 1", "expected 'broker <N>' or 'leader of partition <P>' after 'kill', found 'node'"),
        ("at 10s kill broker", "expected a number after 'broker'"),
        ("at 10s kill broker -1", "'-1' after 'broker' is not a non-negative integer"),
        ("at 10s kill leader partition 1", "expected 'of', found 'partition'"),
        ("at 10s delay broker 1", "expected 'by'"),
        ("at 10s delay broker 1 by", "a duration after 'by'"),
        ("at 10s pause broker 1", "'pause' needs 'for <duration>'"),
        ("at 10s partition broker 1", "'partition' needs 'for <duration>'"),
        ("at 10s restart broker 1 for 5s", "'restart' takes no 'for <duration>'"),
        ("at 10s kill consumer 1 for 5s", "'kill' takes no 'for <duration>'"),
        ("at 10s add broker", "expected 'consumer', found 'broker'"),
        ("at 10s kill broker 1 for 0s", "'for' needs a duration above zero"),
        ("at 10s kill broker 1 now", "unexpected 'now'"),
    ])
    func parse_rejects(text: String, message: String) {
        #expect {
            try WorkloadFault.parse(text)
        } throws: { error in
            guard let error = error as? FaultParseError else { return false }
            return error.message.contains(message)
        }
    }

    @Test(arguments: [("500ms", Duration.milliseconds(500)), ("10s", .seconds(10)), ("2m", .seconds(120)), ("1.5s", .milliseconds(1500)),
                      ("1h", .seconds(3600)), ("250us", .microseconds(250)), ("7ns", .nanoseconds(7)), ("0s", .zero)])
    func durations_parseAndFormat(text: String, expected: Duration) {
        #expect(SpecDuration.parse(text) == expected)
        #expect(SpecDuration.parse(SpecDuration.format(expected)) == expected)
    }

    @Test(arguments: ["", "10", "s", "-1s", "1x", "1.2.3s", "nan s", "1e400s", "100000h"])
    func durations_rejectBadText(text: String) {
        #expect(SpecDuration.parse(text) == nil)
    }

    @Test func needsInjector_onlyForBrokerFaults() throws {
        #expect(try WorkloadFault.parse("at 1s kill broker 0").needsInjector)
        #expect(try !WorkloadFault.parse("at 1s kill consumer 0").needsInjector)
        #expect(try !WorkloadFault.parse("at 1s add consumer").needsInjector)
    }
}
