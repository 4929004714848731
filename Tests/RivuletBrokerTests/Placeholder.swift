import Testing
@testable import RivuletBroker

@Test func rivuletbroker_builds() {}
