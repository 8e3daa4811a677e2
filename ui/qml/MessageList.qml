// The messages of the open conversation. Follows the end while a reply streams unless the user
// has scrolled up to read.
import QtQuick
import QtQuick.Controls

ListView {
    id: list
    property var chat: null
    property var theme: null
    property bool followEnd: true

    model: chat ? chat.messages : null
    clip: true
    spacing: 4
    topMargin: 12
    bottomMargin: 12
    boundsBehavior: Flickable.StopAtBounds
    Accessible.role: Accessible.List
    Accessible.name: qsTr("Messages")
    ScrollBar.vertical: ScrollBar { Accessible.name: qsTr("Scroll messages") }

    onMovementEnded: followEnd = atYEnd
    onContentHeightChanged: if (followEnd) Qt.callLater(positionViewAtEnd)
    onCountChanged: { if (count > 0 && followEnd) Qt.callLater(positionViewAtEnd) }
    Connections {
        target: list.chat
        function onConversationChanged() { list.followEnd = true }
        function onReplyStarted() { list.followEnd = true; Qt.callLater(list.positionViewAtEnd) }
    }

    delegate: MessageDelegate {
        width: list.width
        chat: list.chat
        theme: list.theme
        isLast: index === list.count - 1
    }
}
