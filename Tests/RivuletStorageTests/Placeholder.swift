import Testing
@testable import RivuletStorage

@Test func rivuletstorage_builds() {}
