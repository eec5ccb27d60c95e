# The admin page in a real headless Chromium (Debian's chromium) driven by playwright-core from
# npm (tests/browser/package-lock.json; scripts/install-deps.sh runs `npm ci`). Label `browser`.
# Screenshots of the main screens go to the test's working directory; run the script with
# docs/screenshots as its second argument to refresh the README's pictures.
add_test(NAME browser.admin_page
  COMMAND node "${PROJECT_SOURCE_DIR}/tests/browser/admin_page_test.mjs" "$<TARGET_FILE:cloudmeta>"
          "${CMAKE_CURRENT_BINARY_DIR}/browser-screenshots")
set_tests_properties(browser.admin_page PROPERTIES LABELS browser TIMEOUT 300)
